"""Test vectors: hex files under tests/data/rdp/ (``#`` lines cite where the bytes come from)."""

from __future__ import annotations

from pathlib import Path

DATA = Path(__file__).resolve().parents[1] / "data" / "rdp"


def load_hex(name: str) -> bytes:
    text = (DATA / name).read_text()
    return bytes.fromhex(" ".join(line for line in text.splitlines() if not line.startswith("#")))


def all_vectors() -> dict[str, bytes]:
    return {str(p.relative_to(DATA)): load_hex(str(p.relative_to(DATA))) for p in sorted(DATA.rglob("*.hex"))}


def load_frames(name: str) -> list[bytes]:
    """A recorded stream (a hex file of whole frames) cut back into its frames."""
    from rdpfront.tpkt import Framer

    framer = Framer()
    framer.feed(load_hex(name))
    return [frame for _, frame in framer.frames()]
