"""glibc malloc settings for the models' working buffers.

Transcription allocates and frees buffers of megabytes for every batch (features, encoder output,
decoder state). With glibc's defaults each worker thread gets its own arena, whose freed memory goes
back to the kernel at once, so every batch page-faults its buffers in again: 3.6 million minor faults
and a fifth of the CPU time in the kernel for 20 minutes of audio (bench/indexing.py, docs/benchmarks.md).
Keeping freed memory in a few arenas for reuse removed about half of those faults and made
transcription about 15 % faster. The settings are the documented ``mallopt`` parameters, the same ones
the ``MALLOC_*_`` environment variables set; set those to override these.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import os

# mallopt(3) parameter numbers (malloc.h)
M_TRIM_THRESHOLD, M_TOP_PAD, M_MMAP_THRESHOLD, M_ARENA_MAX = -1, -2, -3, -8

SETTINGS = {
    M_ARENA_MAX: 1,  # worker threads share the main heap, which honours the two settings below
    M_MMAP_THRESHOLD: 32 << 20,  # buffers up to 32 MB come from the heap (and are reused), not fresh mmaps
    M_TOP_PAD: 256 << 20,  # grow the heap in large steps...
    M_TRIM_THRESHOLD: 1 << 30,  # ...and keep up to 1 GB of freed memory instead of returning it at once
}
ENVIRONMENT = {M_ARENA_MAX: "MALLOC_ARENA_MAX", M_MMAP_THRESHOLD: "MALLOC_MMAP_THRESHOLD_",
               M_TOP_PAD: "MALLOC_TOP_PAD_", M_TRIM_THRESHOLD: "MALLOC_TRIM_THRESHOLD_"}


def keep_freed_memory() -> bool:
    """Apply SETTINGS in this process (glibc only; call before worker threads start). True if applied."""
    name = ctypes.util.find_library("c")
    if not name or "libc" not in name:
        return False
    try:
        mallopt = ctypes.CDLL(name).mallopt
    except (OSError, AttributeError):  # musl and other C libraries: leave their allocator alone
        return False
    for parameter, value in SETTINGS.items():
        if ENVIRONMENT[parameter] not in os.environ:
            mallopt(parameter, value)
    return True
