"""python -m bench [--quick] [--threads N] [--output PATH] [--no-torch]

Runs every measurement of the benchmark, one after another, each in a fresh process; prints the
tables and writes them to docs/PERFORMANCE.md (keeping its hand-written "## Notes").
"""
import argparse
import datetime
import importlib.util
import platform
import sys
import tempfile
from pathlib import Path

from PIL import Image, ImageDraw

from bench import machine, report
from bench.runner import REPO, run_job, time_command

FULL = {"warmup": 10, "reps": 7, "steps": 40, "infer_reps": 5, "profile_steps": 20,
        "memory_steps": 50, "process_runs": 7, "gemm_reps": 10}
QUICK = {"warmup": 3, "reps": 3, "steps": 10, "infer_reps": 2, "profile_steps": 5,
         "memory_steps": 50, "process_runs": 2, "gemm_reps": 3}
GEMM_SIZE = 2048


def say(message: str) -> None:
    print(message, file=sys.stderr, flush=True)


def digit_png(path: Path) -> None:
    """A user-style image to recognise: a dark 7 drawn on a light 200x200 page."""
    image = Image.new("L", (200, 200), 235)
    ImageDraw.Draw(image).line([(50, 40), (150, 40), (90, 170)], fill=20, width=18)
    image.save(path)


def single_image_times(s: dict, threads_env: dict, torch: bool, workdir: Path) -> dict:
    """Fresh-process seconds of `evaluate.py one.png` (or a note why not), `import torch` and
    `import numpy, PIL`."""
    python = sys.executable
    times = {"import_numpy_pil": time_command([python, "-c", "import numpy, PIL.Image"], s["process_runs"])}
    times["import_torch"] = time_command([python, "-c", "import torch"], s["process_runs"]) if torch else None
    missing = [name for name in ("evaluate.py", "models/shipped/mnist_cnn.npz") if not (REPO / name).exists()]
    if missing:
        times["evaluate"] = f"skipped: {' and '.join(missing)} missing"
        say(f"  note: single-image timing {times['evaluate']}")
        return times
    png = workdir / "one.png"
    digit_png(png)
    try:
        times["evaluate"] = time_command([python, "evaluate.py", str(png)], s["process_runs"], threads_env)
    except RuntimeError as error:
        times["evaluate"] = "failed (see the run's output)"
        say(f"  note: {error}")
    return times


def measure(s: dict, threads: int, torch: bool, tmp: Path) -> dict:
    """Every measurement, one after another, each in a fresh process; their raw results."""
    results = {"torch": None}
    threads_env = {"NUMBA_NUM_THREADS": str(threads)}
    train_args = {k: s[k] for k in ("warmup", "reps", "steps", "infer_reps")}
    say("ours: training, inference, per-layer profile")
    results["ours"] = run_job("bench.ours:timed", threads_env, profile_steps=s["profile_steps"],
                              **train_args)["result"]
    if torch:
        say("PyTorch: training, inference")
        weights = str(tmp / "seed.npz")
        run_job("bench.ours:save_seed_model", threads_env, path=weights)
        results["torch"] = run_job("bench.torch_side:timed", threads=threads, weights=weights,
                                   **train_args)["result"]
    say("peak memory of a training run")
    results["memory"] = {
        "ours": run_job("bench.ours:memory_run", threads_env, steps=s["memory_steps"])["peak_rss_mib"],
        "torch": run_job("bench.torch_side:memory_run", steps=s["memory_steps"],
                         threads=threads)["peak_rss_mib"] if torch else None}
    say("Numba compile time: empty cache, then warm cache")
    empty_cache = tmp / "numba-cache"
    empty_cache.mkdir()
    results["compile"] = {
        "cold_s": run_job("bench.ours:first_step",
                          {**threads_env, "NUMBA_CACHE_DIR": str(empty_cache)})["elapsed_s"],
        "warm_s": run_job("bench.ours:first_step", threads_env)["elapsed_s"]}
    say(f"float32 GEMM, {GEMM_SIZE}x{GEMM_SIZE}")
    results["gemm"] = run_job("bench.machine:gemm", {"OPENBLAS_NUM_THREADS": str(threads)},
                              n=GEMM_SIZE, reps=s["gemm_reps"], threads=threads)["result"]
    say("single image in fresh processes")
    results["process"] = single_image_times(s, threads_env, torch, tmp)
    return results


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(prog="python -m bench", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--quick", action="store_true",
                        help="3 repetitions of 10 steps, fewer runs of everything: checks that it all works")
    parser.add_argument("--threads", type=int, default=2,
                        help="threads for each framework and the GEMM (default 2)")
    parser.add_argument("--output", type=Path, default=REPO / "docs" / "PERFORMANCE.md",
                        help="the Markdown report to (re)write (default docs/PERFORMANCE.md)")
    parser.add_argument("--no-torch", action="store_true", help="skip PyTorch even if it is installed")
    args = parser.parse_args(argv)
    s = QUICK if args.quick else FULL
    torch = not args.no_torch and importlib.util.find_spec("torch") is not None
    if not torch:
        say("PyTorch is not installed (pip install -e '.[bench]') or --no-torch: measuring ours only.")

    with tempfile.TemporaryDirectory() as tmp:
        results = measure(s, args.threads, torch, Path(tmp))
    results.update({
        "settings": {**s, "quick": args.quick}, "threads": args.threads,
        "date": datetime.date.today().isoformat(),
        "machine": {"cpu": machine.cpu_model(), "cores": machine.cores(), "python": platform.python_version(),
                    "numpy": machine.version("numpy"), "numba": machine.version("numba"),
                    "torch": machine.version("torch") if torch else None}})
    print("\n" + report.document(results))
    report.write(args.output, results)
    say(f"written to {args.output}")


if __name__ == "__main__":
    main()
