"""Give freed heap memory back to the operating system.

A long run's driver allocates and frees a little for every batch of results (Arrow tables, Ray's messages, JSON);
glibc's malloc keeps what was freed in its arenas rather than returning it, so the process's memory grows with the
number of samples although what it holds does not (measured: BENCHMARKS.md, memory). `malloc_trim` returns it, as
Dask's workers do for the same reason. Elsewhere than glibc (macOS, musl) there is no such call, and nothing to do.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import functools

import pyarrow as pa


@functools.cache
def _glibc() -> ctypes.CDLL | None:
    name = ctypes.util.find_library("c")
    try:
        libc = ctypes.CDLL(name) if name else None
    except OSError:
        return None
    return libc if libc is not None and hasattr(libc, "malloc_trim") else None


def release_free_memory() -> bool:
    """Return freed memory of Arrow's pool and of malloc to the OS; whether malloc had anything to return."""
    pa.default_memory_pool().release_unused()
    libc = _glibc()
    return bool(libc.malloc_trim(0)) if libc is not None else False
