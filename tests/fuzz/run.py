"""Run the fuzz families (``tests/fuzz/targets.py``): seeded inputs, counts and crashes.

An input that raises anything but the family's allowed error is a crash: it is written to
``tests/data/fuzz/<family>/crash-<sha1>.bin`` (the regression tests replay every file there)
with its traceback beside it.

    python -m tests.fuzz.run [--inputs N] [--seed S] [family ...]

prints one line per family: inputs fed, crashes, seconds. ``make fuzz`` runs a long pass.
"""

from __future__ import annotations

import argparse
import hashlib
import logging
import random
import sys
import time
import traceback
from dataclasses import dataclass, field
from pathlib import Path

from tests.fuzz.targets import FAMILIES, Family

CORPUS = Path(__file__).resolve().parents[1] / "data" / "fuzz"


@dataclass
class Report:
    family: str
    inputs: int = 0
    crashes: list[Path] = field(default_factory=list)
    seconds: float = 0.0

    def line(self) -> str:
        return (f"{self.family:16s} {self.inputs:8d} inputs  {len(self.crashes):3d} crashes  "
                f"{self.seconds:6.1f} s  ({self.inputs / max(self.seconds, 1e-9):.0f}/s)")


def feed_one(family: Family, data: bytes) -> str | None:
    """None, or the traceback of a crash."""
    try:
        family.feed(data)
    except family.allowed:
        pass
    except Exception:  # the point: anything else is a finding
        return traceback.format_exc()
    return None


def keep(family: str, data: bytes, trace: str) -> Path:
    folder = CORPUS / family
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / f"crash-{hashlib.sha1(data).hexdigest()[:16]}.bin"
    path.write_bytes(data)
    path.with_suffix(".txt").write_text(trace)
    return path


def run(name: str, inputs: int, seed: int = 0, *, save: bool = True) -> Report:
    """Feed ``inputs`` inputs of family ``name`` (their log lines, a peer turned away each, off)."""
    family = FAMILIES[name]()
    logging.disable(logging.CRITICAL)
    try:
        return _run(family, name, inputs, seed, save)
    finally:
        logging.disable(logging.NOTSET)


def _run(family: Family, name: str, inputs: int, seed: int, save: bool) -> Report:
    rng = random.Random(f"{name}:{seed}")
    report = Report(name)
    started = time.monotonic()
    for _ in range(inputs):
        data = family.make(rng)
        trace = feed_one(family, data)
        report.inputs += 1
        if trace is not None:
            report.crashes.append(keep(name, data, trace) if save else Path("-"))
    report.seconds = time.monotonic() - started
    return report


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--inputs", type=int, default=10_000)
    parser.add_argument("--seed", type=int, default=int(time.time()))
    parser.add_argument("families", nargs="*", default=list(FAMILIES))
    args = parser.parse_args(argv)
    crashed = 0
    print(f"seed {args.seed}")
    for name in args.families:
        report = run(name, args.inputs, args.seed)
        print(report.line(), flush=True)
        for path in report.crashes:
            print(f"    kept {path}")
        crashed += len(report.crashes)
    return 1 if crashed else 0


if __name__ == "__main__":
    sys.exit(main())
