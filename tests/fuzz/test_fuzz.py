"""The bounded fuzz pass CI runs: 10,000 inputs per family (``WRD_FUZZ_INPUTS`` to change),
none may crash; and every input kept under ``tests/data/fuzz/`` (a past crash) is fed again.
``make fuzz`` runs the long pass."""

from __future__ import annotations

import os

import pytest

from tests.fuzz.run import CORPUS, feed_one, run
from tests.fuzz.targets import FAMILIES

INPUTS = int(os.environ.get("WRD_FUZZ_INPUTS", "10000"))


@pytest.mark.parametrize("family", sorted(FAMILIES))
def test_bounded_fuzz_pass(family: str) -> None:
    report = run(family, INPUTS, seed=0)
    print(report.line())
    assert report.inputs == INPUTS
    assert not report.crashes, f"{family}: crashes kept in {[str(p) for p in report.crashes]}"


@pytest.mark.parametrize("path", sorted(CORPUS.glob("*/*.bin")), ids=lambda p: f"{p.parent.name}/{p.name}")
def test_kept_inputs_no_longer_crash(path) -> None:
    trace = feed_one(FAMILIES[path.parent.name](), path.read_bytes())
    assert trace is None, trace
