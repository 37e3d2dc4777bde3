"""The process settings that make the Numba kernels fast, idle or busy, applied only when a program asks.

Importing nncore changes nothing in the process that imports it. A program that trains the
model or runs it on many images (train.py, evaluate.py, the benchmark) calls
`configure_for_kernels()` once, at its start, before the first kernel runs.
"""
import ctypes
import os
import sys


def configure_for_kernels() -> None:
    """One level of threads, which sleep while they wait, and freed memory kept for reuse.

    Threads: the kernels split a batch into chunks of images and process the chunks in parallel
    with Numba's `prange`, each chunk calling BLAS for its own matrix products. BLAS must then
    run single-threaded -- a second pool of BLAS threads on the same cores only fights with
    ours -- so this sets OPENBLAS_NUM_THREADS=1, unless the variable is already set (a value
    of your own is kept). OpenBLAS reads it once, when it is loaded, and Numba loads it
    (through scipy.linalg.cython_blas) at the first call of a kernel that multiplies matrices:
    call this before that, or it changes nothing. Results do not depend on it; speed does.

    Waiting: Numba runs the `prange` loops on GNU OpenMP's threads (its "omp" threading layer),
    which by default spin whenever they wait -- for the next parallel loop, or at the end of one
    for the other threads -- for about 300,000 turns before they sleep. A training step runs over a
    dozen parallel loops with Python in between, so the threads were always spinning: on an idle
    machine that only burns the second core, but on a busy one a spinning thread takes a core from
    the very thread it waits for. Measured on this 2-core machine with other processes busy, a step
    took 3 to 4 times as long spinning as sleeping (250 against 77 ms with one busy process beside
    training); idle, sleeping costs about 1 %. So this sets OMP_WAIT_POLICY=PASSIVE (wait asleep),
    unless the variable is already set. GNU OpenMP reads it once, when it is loaded, at the first
    parallel kernel: call this before that. Results do not depend on it; speed under load does.

    Memory: see `keep_freed_memory`.
    """
    os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")
    os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")
    keep_freed_memory()


def keep_freed_memory() -> None:
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
