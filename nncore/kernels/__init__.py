"""Numba kernels: how each layer's formulas are computed fast.

The layers in `nncore.layers` say *what* is computed; the functions here compute it, compiled
by Numba (`@njit(cache=True)`), for float32 (training) and float64 (gradient checks) alike.

One level of threads: the kernels split a batch into fixed chunks of images and process the
chunks in parallel with `prange`, each chunk calling BLAS for its own matrix products. BLAS must
then run single-threaded -- a second pool of BLAS threads on the same cores only fights with
ours -- so this sets OPENBLAS_NUM_THREADS=1 before Numba loads BLAS (at the first kernel call).
Every parallel loop writes only its own chunk of the output, and sums over chunks are taken in
a fixed order afterwards, so results never depend on thread timing or the number of cores.
"""
import ctypes
import os
import sys

os.environ["OPENBLAS_NUM_THREADS"] = "1"


def keep_freed_memory():
    """Ask glibc to keep large freed blocks for reuse instead of returning them to the OS.

    A training step allocates and frees the same dozen arrays of up to 11 MB. By default glibc
    serves blocks that large with fresh pages from the OS and returns them on free, so every
    step page-faults them in again: measured here, 4,400 page faults and about a fifth of the
    step's CPU time. Keeping blocks up to 32 MB (glibc's upper limit for this setting) in the
    heap makes a step reuse the memory of the previous one. Elsewhere than Linux: a no-op.
    """
    if not sys.platform.startswith("linux"):
        return
    try:
        libc = ctypes.CDLL("libc.so.6")
    except OSError:  # not glibc (e.g. musl)
        return
    m_trim_threshold, m_mmap_threshold = -1, -3
    libc.mallopt(m_mmap_threshold, 32 * 1024 * 1024)
    libc.mallopt(m_trim_threshold, 256 * 1024 * 1024)


keep_freed_memory()
