"""The trainer process's resident memory: its high-water mark per stage, and how freed arrays go back.

A large log makes many per-rating numpy temporaries of a few to a few tens of MB (masks, index columns,
sort orders). glibc serves a block from its heap unless it is at least the mmap threshold, and by default
that threshold rises to the largest block freed so far (up to 32 MiB). After the first such free, those
temporaries land in the heap, whose pages stay with the process once they are freed: the high-water mark
then counts what is long gone. ``return_freed_blocks`` fixes the threshold instead, and has Arrow allocate
through the same allocator (its default pool, mimalloc or jemalloc, keeps freed pages for reuse). Blocks
below the threshold freed in the middle of the heap stay with the process until ``release_free_pages``.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import functools
import logging
from pathlib import Path

log = logging.getLogger(__name__)

M_MMAP_THRESHOLD = -3  # glibc's mallopt parameter number (malloc.h)
MMAP_THRESHOLD_BYTES = 1 << 20


@functools.cache
def _glibc() -> ctypes.CDLL | None:
    """The C library if it is glibc (it has ``mallopt`` and ``malloc_trim``), else None (musl, macOS)."""
    try:
        libc = ctypes.CDLL(ctypes.util.find_library("c"))
        libc.mallopt.argtypes, libc.mallopt.restype = (ctypes.c_int, ctypes.c_int), ctypes.c_int
        libc.malloc_trim.argtypes, libc.malloc_trim.restype = (ctypes.c_size_t,), ctypes.c_int
    except (OSError, AttributeError, TypeError):
        return None
    return libc


def return_freed_blocks(threshold: int = MMAP_THRESHOLD_BYTES) -> bool:
    """Have glibc map every allocation of ``threshold`` bytes or more on its own, so that freeing it gives
    the memory back to the system; a fixed threshold also turns off glibc's raising of it. Arrow's buffers
    (the loaded log's columns) then come from the same allocator. Returns whether it took effect (False
    off glibc, where nothing changes)."""
    libc = _glibc()
    if libc is None:
        return False
    done = libc.mallopt(M_MMAP_THRESHOLD, threshold) == 1
    if done:
        import pyarrow

        pyarrow.set_memory_pool(pyarrow.system_memory_pool())
    log.debug("mmap threshold %d bytes: %s", threshold, "set" if done else "not set")
    return done


def release_free_pages() -> None:
    """Give the system back the heap pages that hold only freed blocks. glibc returns the top of its heaps
    by itself, but a freed block with live ones above it (the many sub-MiB arrays and tensors that indexing a
    log leaves behind, in every thread's arena) stays resident until ``malloc_trim``. Call it where a large
    body of data has just been let go: it costs a walk over the heaps (milliseconds)."""
    libc = _glibc()
    if libc is not None:
        libc.malloc_trim(0)


def status_mib(pid: int | str = "self", field: str = "VmRSS") -> float | None:
    """A memory field of ``/proc/<pid>/status`` (VmRSS: resident now, VmHWM: its peak) in MiB; None where
    the process is gone or there is no /proc."""
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith(f"{field}:"):
                return int(line.split()[1]) / 1024
    except OSError:
        return None
    return None


def peak_rss_mib() -> float:
    """The most resident memory this process has held since the last ``reset_peak_rss`` (since it
    started where that is not possible), in MiB."""
    peak = status_mib("self", "VmHWM")
    if peak is not None:
        return peak
    import resource

    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # KiB on Linux


def reset_peak_rss() -> None:
    """Start a new high-water mark of resident memory (Linux; elsewhere the peak stays the run's)."""
    try:
        Path("/proc/self/clear_refs").write_text("5")
    except OSError:
        pass
