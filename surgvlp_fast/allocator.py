"""Keeping freed memory in the process: glibc's malloc settings for batched CPU work.

glibc serves every allocation over 32 MB (and, by its adaptive threshold, many smaller ones) with a
fresh mmap and gives it back to the system when freed. A training step or an inference batch on the
CPU allocates and frees the same activations every time, so each one is faulted in page by page
again: on this project's machine the tiny CNN's step spent a third of its time in page faults
(batch norm forward 42 ms -> 8 ms, ReLU backward 37 ms -> 7 ms on 100 MB; docs/performance.md).
`keep_freed_memory()` tells malloc to serve everything from its heap and to keep what is freed, so
the next step reuses pages already mapped. The process then holds its peak memory until it ends,
which is what a training or inference loop uses anyway.

Called by the trainer, `decode_clips` and the frame encoders of `predict`, `index` and `eval`. A no-op on other
C libraries and platforms, and when `SURGVLP_FAST_MALLOC=system`.
"""
import ctypes
import ctypes.util
import functools
import os
import sys

M_TRIM_THRESHOLD = -1   # mallopt parameters (malloc.h)
M_MMAP_MAX = -4
TRIM_AT = 2 ** 31 - 1   # bytes free at the heap's top before they go back (the largest int mallopt takes)


@functools.cache
def keep_freed_memory() -> bool:
    """Serve allocations from the heap and never trim it (once per process; forked workers inherit it).
    True when glibc took the settings."""
    if os.environ.get("SURGVLP_FAST_MALLOC", "") == "system" or not sys.platform.startswith("linux"):
        return False
    try:
        libc = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6")
        mallopt = libc.mallopt
    except (OSError, AttributeError):   # not glibc (e.g. musl has no mallopt)
        return False
    mallopt.argtypes, mallopt.restype = (ctypes.c_int, ctypes.c_int), ctypes.c_int
    return bool(mallopt(M_MMAP_MAX, 0)) and bool(mallopt(M_TRIM_THRESHOLD, TRIM_AT))
