"""Freed heap memory goes back to the OS (glibc's malloc keeps it otherwise)."""

from __future__ import annotations

import sys

import psutil
import pytest

from ray_eval.cluster.malloc import _glibc, release_free_memory


@pytest.mark.skipif(not sys.platform.startswith("linux") or _glibc() is None, reason="glibc's malloc_trim only")
def test_memory_freed_by_python_is_returned_to_the_os() -> None:
    process = psutil.Process()
    chunks = [bytes(64 * 1024 - 64) for _ in range(3000)]  # ~190 MiB in blocks malloc serves from its arenas
    chunks.append(bytes(64 * 1024 - 64))  # allocated last: the top of the heap stays in use, so free() cannot shrink it
    del chunks[:-1]
    before = process.memory_full_info().uss
    assert release_free_memory() is True
    after = process.memory_full_info().uss
    assert before - after > 100 * 2**20
