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
import os

os.environ["OPENBLAS_NUM_THREADS"] = "1"

IMAGES_PER_CHUNK = 16
