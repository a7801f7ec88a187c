"""Test vectors: hex files under tests/data/rdp/ (``#`` lines cite where the bytes come from)."""

from __future__ import annotations

from pathlib import Path

DATA = Path(__file__).resolve().parents[1] / "data" / "rdp"


def load_hex(name: str) -> bytes:
    text = (DATA / name).read_text()
    return bytes.fromhex(" ".join(line for line in text.splitlines() if not line.startswith("#")))


def all_vectors() -> dict[str, bytes]:
    return {str(p.relative_to(DATA)): load_hex(str(p.relative_to(DATA))) for p in sorted(DATA.rglob("*.hex"))}
