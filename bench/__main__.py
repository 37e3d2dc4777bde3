"""python -m bench [--quick] [--threads N] [--output PATH] [--no-torch] [--no-keras] [--no-epochs]

Runs every measurement of the benchmark, one after another, each in a fresh process: ours,
PyTorch and Keras side by side; prints the tables and writes them to docs/PERFORMANCE.md (keeping
its hand-written "## Notes"). A full run takes several minutes on 2 cores, two or three of them
for the epoch as a user runs it (train.py twice, model.fit once; --no-epochs leaves it out).
--quick checks the whole pipeline with short runs and writes a file only if --output is given,
so that its figures never replace real ones: about half a minute with --no-keras --no-epochs,
a minute or more with them (each Keras job starts TensorFlow, seconds on its own).
"""
import argparse
import datetime
import importlib.util
import platform
import sys
import tempfile
import time
from pathlib import Path

from bench import common, machine, report, user_level
from bench.runner import REPO, run_job

FULL = {"warmup": 10, "reps": 7, "steps": 40, "infer_reps": 5, "infer_images": common.INFER_IMAGES,
        "profile_steps": 20, "memory_steps": 50, "process_runs": 7, "gemm_reps": 10, "epoch_images": 60_000,
        "cold_compile": True}
# Every code path once, on little work; compiling every kernel from scratch (tens of seconds) is left out.
QUICK = {"warmup": 2, "reps": 2, "steps": 5, "infer_reps": 1, "infer_images": 1_000, "profile_steps": 3,
         "memory_steps": 5, "process_runs": 1, "gemm_reps": 2, "epoch_images": 1_000, "cold_compile": False}
GEMM_SIZE = 2048
KERAS_ENV = {"KERAS_BACKEND": "tensorflow", "TF_CPP_MIN_LOG_LEVEL": "2"}  # Keras 3 on TF, no TF banner
NOT_INSTALLED = {"torch": "not installed (pip install -e '.[bench]')",
                 "keras": "not installed (pip install -e '.[keras]')"}
MODULES = {"torch": ("torch",), "keras": ("tensorflow", "keras")}
START = time.perf_counter()


def say(message: str) -> None:
    """A line of progress on stderr, after the seconds since the benchmark started."""
    print(f"[{time.perf_counter() - START:5.0f} s] {message}", file=sys.stderr, flush=True)


def missing_frameworks(no_torch: bool, no_keras: bool) -> dict:
    """"torch"/"keras" -> why that framework is not measured, or None when it is."""
    left_out = {"torch": no_torch, "keras": no_keras}
    missing = {}
    for name, modules in MODULES.items():
        installed = all(importlib.util.find_spec(module) for module in modules)
        if left_out[name]:
            missing[name] = f"not measured (--no-{name})"
        else:
            missing[name] = None if installed else NOT_INSTALLED[name]
    return missing


def frameworks(s: dict, threads: int, missing: dict, tmp: Path) -> dict:
    """Training and inference rates: ours (and our per-layer profile), PyTorch, and Keras twice,
    with TensorFlow's own thread counts and pinned to `threads`. All start from our seed weights."""
    threads_env = {"NUMBA_NUM_THREADS": str(threads)}
    rates = {k: s[k] for k in ("warmup", "reps", "steps", "infer_reps", "infer_images")}
    say("ours: training, inference, per-layer profile")
    ours = run_job("bench.ours:timed", threads_env, profile_steps=s["profile_steps"], **rates)["result"]
    results = {"ours": ours, "torch": None, "keras": None}
    weights = str(tmp / "seed.npz")
    run_job("bench.ours:save_seed_model", threads_env, path=weights)
    if not missing["torch"]:
        say("PyTorch: training, inference")
        results["torch"] = run_job("bench.torch_side:timed", threads=threads, weights=weights,
                                   **rates)["result"]
    if not missing["keras"]:
        say(f"Keras: training, inference; threads as TensorFlow chooses, then pinned to {threads}")
        results["keras"] = {setting: run_job("bench.keras_side:timed", KERAS_ENV, threads=pinned,
                                             weights=weights, **rates)["result"]
                            for setting, pinned in (("default", None), ("pinned", threads))}
    return results


def memory(s: dict, threads: int, missing: dict) -> dict:
    say("peak memory of a training run")
    steps = s["memory_steps"]
    return {"ours": run_job("bench.ours:memory_run", {"NUMBA_NUM_THREADS": str(threads)},
                            steps=steps)["peak_rss_mib"],
            "torch": None if missing["torch"] else run_job("bench.torch_side:memory_run", steps=steps,
                                                           threads=threads)["peak_rss_mib"],
            "keras": None if missing["keras"] else run_job("bench.keras_side:memory_run", KERAS_ENV,
                                                           steps=steps)["peak_rss_mib"]}


def under_load(s: dict, threads: int, missing: dict) -> dict:
    """Training rates, ours and Keras' (its own threads), while one other process spins on a core."""
    say("training under load: one other process spinning on a core")
    train = {k: s[k] for k in ("warmup", "reps", "steps")}
    with user_level.busy_core():
        ours = run_job("bench.ours:training", {"NUMBA_NUM_THREADS": str(threads)}, **train)["result"]
        keras = None if missing["keras"] else run_job("bench.keras_side:training", KERAS_ENV,
                                                      **train)["result"]
    return {"ours": ours["train"], "keras": keras and keras["train"]}


def epochs(s: dict, threads: int, missing: dict, tmp: Path) -> dict:
    """An epoch as a user runs it: train.py --epochs 2 against --epochs 1, and model.fit's second epoch."""
    images = s["epoch_images"]
    say(f"an epoch as a user runs it, {images:,} images: train.py --epochs 1 and --epochs 2, "
        f"then Keras' model.fit{' (minutes)' if images == 60_000 else ''}")
    ours = user_level.train_py_epochs(images, {"NUMBA_NUM_THREADS": str(threads)}, tmp)
    if isinstance(ours, str):
        say(f"  note: train.py {ours}")
    keras = None if missing["keras"] else run_job("bench.keras_side:fit_epochs", KERAS_ENV, images=images,
                                                  epochs=2)["result"]
    return {"images": images, "ours": ours, "keras": keras}


def measure(s: dict, threads: int, missing: dict, with_epochs: bool, tmp: Path) -> dict:
    """Every measurement, one after another, each in a fresh process; their raw results."""
    results = frameworks(s, threads, missing, tmp)
    results["missing"] = missing
    results["memory"] = memory(s, threads, missing)
    results["load"] = under_load(s, threads, missing)
    results["epoch"] = epochs(s, threads, missing, tmp) if with_epochs else "not measured (--no-epochs)"
    threads_env = {"NUMBA_NUM_THREADS": str(threads)}
    say("Numba compile time: empty cache, then warm cache" if s["cold_compile"] else "Numba: warm cache")
    empty_cache = tmp / "numba-cache"
    empty_cache.mkdir()
    results["compile"] = {
        "cold_s": run_job("bench.ours:first_step", {**threads_env, "NUMBA_CACHE_DIR": str(empty_cache)})[
            "elapsed_s"] if s["cold_compile"] else None,
        "warm_s": run_job("bench.ours:first_step", threads_env)["elapsed_s"]}
    say(f"float32 GEMM, {GEMM_SIZE}x{GEMM_SIZE}")
    results["gemm"] = run_job("bench.machine:gemm", {"OPENBLAS_NUM_THREADS": str(threads)},
                              n=GEMM_SIZE, reps=s["gemm_reps"], threads=threads)["result"]
    say("single image in fresh processes")
    imports = {name: (name, KERAS_ENV if name == "keras" else {}) for name in MODULES if not missing[name]}
    results["process"] = user_level.single_image_times(s["process_runs"], threads_env, tmp, imports)
    if isinstance(results["process"]["evaluate"], str):
        say(f"  note: evaluate.py {results['process']['evaluate']}")
    return results


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(prog="python -m bench", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--quick", action="store_true",
                        help="2 repetitions of 5 steps, 1,000 images to predict and to train an epoch on, "
                             "no compiling from scratch: checks that it all works")
    parser.add_argument("--threads", type=int, default=2,
                        help="threads for each framework and the GEMM (default 2)")
    parser.add_argument("--output", type=Path, default=None,
                        help="the Markdown report to (re)write (default docs/PERFORMANCE.md; "
                             "with --quick, none)")
    parser.add_argument("--no-torch", action="store_true", help="skip PyTorch even if it is installed")
    parser.add_argument("--no-keras", action="store_true", help="skip Keras even if it is installed")
    parser.add_argument("--no-epochs", action="store_true",
                        help="skip the epoch as a user runs it (train.py twice and model.fit: minutes)")
    args = parser.parse_args(argv)
    s = QUICK if args.quick else FULL
    output = args.output or (None if args.quick else REPO / "docs" / "PERFORMANCE.md")
    missing = missing_frameworks(args.no_torch, args.no_keras)
    for name, reason in missing.items():
        if reason:
            say(f"{'PyTorch' if name == 'torch' else 'Keras'}: {reason}")

    with tempfile.TemporaryDirectory() as tmp:
        results = measure(s, args.threads, missing, not args.no_epochs, Path(tmp))
    results.update({
        "settings": {**s, "quick": args.quick}, "threads": args.threads,
        "date": datetime.date.today().isoformat(),
        "machine": {"cpu": machine.cpu_model(), "cores": machine.cores(), "python": platform.python_version(),
                    "numpy": machine.version("numpy"), "numba": machine.version("numba"),
                    "torch": None if missing["torch"] else machine.version("torch"),
                    "tensorflow": None if missing["keras"] else machine.version("tensorflow-cpu")
                    or machine.version("tensorflow"),
                    "keras": None if missing["keras"] else machine.version("keras")}})
    print("\n" + report.document(results))
    if output:
        report.write(output, results)
        say(f"written to {output}")


if __name__ == "__main__":
    main()
