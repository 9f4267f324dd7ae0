"""Keeping a big lock's transient buffers from bloating the process (glibc).

A cold lock reads hundreds of index pages of up to megabytes each on dozens of
threads, and each passes through a few buffers of its size that are freed soon
after. glibc serves requests above its mmap threshold from mappings of their own,
returned at free; but the threshold grows to the size of every such block freed
(up to 32 MiB), so after the first big page all the others come from the threads'
heaps, where freed memory mostly stays. On the 693-pin freeze of
``benchmarks/bench_scale.py`` that was about 100 MiB of the peak. Setting the
threshold once fixes it at its usual starting value and turns the growth off.
"""

from __future__ import annotations

__all__ = ["keep_big_buffers_apart"]

import functools
import os

# glibc's M_MMAP_THRESHOLD, and its default (static) value.
_M_MMAP_THRESHOLD = -3
_THRESHOLD = 128 * 1024


@functools.cache
def keep_big_buffers_apart() -> bool:
    """Fix glibc's mmap threshold (once per process: setting it twice in a race is
    harmless); True if it is set, False where there is no glibc (nothing to do
    there) or it refused."""
    return _set_threshold()


def _set_threshold() -> bool:
    try:
        if not os.confstr("CS_GNU_LIBC_VERSION"):
            return False
    except (AttributeError, ValueError, OSError):  # not glibc, or no confstr at all
        return False
    import ctypes

    try:
        libc = ctypes.CDLL(None)
        return bool(libc.mallopt(_M_MMAP_THRESHOLD, _THRESHOLD))
    except (OSError, AttributeError):
        return False
