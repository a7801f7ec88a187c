"""linux.release_free_heap gives free chunks inside glibc's heap back to the kernel."""

from __future__ import annotations

from compositor import linux


def test_free_heap_is_returned():
    blocks = [bytearray(64 * 1024) for _ in range(64)]  # under the mmap threshold: in the heap
    del blocks[::2]  # holes of whole pages between blocks still in use
    assert linux.release_free_heap() is True
    assert isinstance(linux.release_free_heap(), bool)
    assert sum(map(len, blocks)) == 32 * 64 * 1024
