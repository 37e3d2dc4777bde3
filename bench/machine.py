"""The machine the figures come from: CPU, cores, library versions, and its float32 GEMM rate.

The GEMM rate is the yardstick for arithmetic: a large float32 matrix product with numpy's BLAS
is about as fast as this CPU multiplies and adds, so a training step's FLOP rate divided by it
says how much of the machine the step uses. `gemm` is a job (bench/runner.py) so that its BLAS
thread count is set before numpy loads BLAS.
"""
import os
import platform
import time
from importlib import metadata
from pathlib import Path


def cpu_model() -> str:
    cpuinfo = Path("/proc/cpuinfo")
    if cpuinfo.exists():
        for line in cpuinfo.read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    return platform.processor() or platform.machine()


def cores() -> str:
    total = os.cpu_count()
    usable = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else total
    return f"{total} logical cores" + (f", {usable} usable by this process" if usable != total else "")


def version(package: str) -> str | None:
    """The installed version of `package`, or None if it is not installed (nothing is imported)."""
    try:
        return metadata.version(package)
    except metadata.PackageNotFoundError:
        return None


def gemm(n: int, reps: int, threads: int) -> dict:
    """GFLOP/s (2 n^3 per product) of the median of `reps` float32 (n, n) @ (n, n) products with
    numpy's BLAS on `threads` threads (OPENBLAS_NUM_THREADS is set by the caller; threadpoolctl,
    when installed, enforces and reports it)."""
    import numpy as np
    try:
        from threadpoolctl import threadpool_info, threadpool_limits
    except ImportError:
        threadpool_info, threadpool_limits = None, None
    rng = np.random.default_rng(0)
    a, b = rng.random((n, n), dtype=np.float32), rng.random((n, n), dtype=np.float32)
    blas = "unknown BLAS"
    if threadpool_limits:
        threadpool_limits(threads, user_api="blas")
        pools = [p for p in threadpool_info() if p["user_api"] == "blas"]
        blas = ", ".join(f"{p['internal_api']} {p['version']} ({p['num_threads']} threads)" for p in pools)
    a @ b
    seconds = []
    for _ in range(reps):
        start = time.perf_counter()
        a @ b
        seconds.append(time.perf_counter() - start)
    return {"gflops": 2 * n**3 / float(np.median(seconds)) / 1e9, "n": n, "blas": blas}
