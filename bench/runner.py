"""Fresh processes: run one benchmark job in its own Python, or time a whole command.

A job is a function named "module:function", called with JSON keyword arguments in a child
process (`python -m bench.runner bench.ours:timed '{"reps": 7, ...}'`). The child prints one
JSON line: the function's result, the seconds from before the job's module was imported to the
end, and the child's peak resident memory. A fresh process per job keeps the frameworks apart:
thread settings, imported libraries and memory of one never touch another's figures.
"""
import importlib
import json
import os
import resource
import subprocess
import sys
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]


def child_env(env: dict | None) -> dict:
    """os.environ with the variables of `env` set, or removed where their value is None."""
    merged = {**os.environ, **(env or {})}
    return {name: value for name, value in merged.items() if value is not None}


def run_job(target: str, env: dict | None = None, **kwargs) -> dict:
    """Run target(**kwargs) in a fresh process with child_env(env); returns
    {"result", "elapsed_s", "peak_rss_mib"}."""
    command = [sys.executable, "-m", "bench.runner", target, json.dumps(kwargs)]
    proc = subprocess.run(command, cwd=REPO, env=child_env(env), capture_output=True, text=True)
    if proc.returncode != 0:
        raise RuntimeError(f"benchmark job {target} failed (exit {proc.returncode}):\n{proc.stderr[-3000:]}")
    return json.loads(proc.stdout.strip().splitlines()[-1])


def timed_run(command: list[str], env: dict | None = None) -> tuple[float, str]:
    """(wall-clock seconds, stdout) of one fresh run of `command` from the repository root with
    child_env(env). Raises RuntimeError if it fails."""
    start = time.perf_counter()
    proc = subprocess.run(command, cwd=REPO, env=child_env(env), capture_output=True, text=True)
    seconds = time.perf_counter() - start
    if proc.returncode != 0:
        raise RuntimeError(f"{' '.join(command)} failed (exit {proc.returncode}): "
                           f"{(proc.stderr or proc.stdout).strip()[-500:]}")
    return seconds, proc.stdout


def time_command(command: list[str], runs: int, env: dict | None = None) -> list[float]:
    """Wall-clock seconds of `runs` fresh runs of `command` (`timed_run`), after one untimed run
    that fills the disk cache (and writes any .pyc files). Raises RuntimeError if a run fails."""
    timed_run(command, env)
    return [timed_run(command, env)[0] for _ in range(runs)]


def peak_rss_mib() -> float:
    """This process's peak resident memory so far, in MiB (ru_maxrss: KiB on Linux, bytes on macOS)."""
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return peak / 2**20 if sys.platform == "darwin" else peak / 2**10


def main(target: str, kwargs_json: str) -> None:
    start = time.perf_counter()
    module_name, function_name = target.split(":")
    function = getattr(importlib.import_module(module_name), function_name)
    result = function(**json.loads(kwargs_json))
    print(json.dumps({"result": result, "elapsed_s": time.perf_counter() - start,
                      "peak_rss_mib": peak_rss_mib()}))


if __name__ == "__main__":
    main(*sys.argv[1:])
