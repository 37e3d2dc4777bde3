"""What a user sees: whole commands timed in fresh processes, and another program busy beside us.

- One image: `python evaluate.py one.png` in a fresh process, beside `python -c "import numpy,
  PIL.Image"` (the least any such program pays) and the import of each other framework. The
  commands run with PYTHONDONTWRITEBYTECODE unset, so that Python reads and writes .pyc files as
  on a user's machine, and once untimed first (bench/runner.py:time_command).
- An epoch: the wall time of `python train.py --epochs 2` minus that of `--epochs 1`, each run
  once into an empty --out directory. Loading the data, compiling, the test set and the plots
  are in both runs and cancel; what is left is one epoch as train.py runs it: augmentation,
  the steps, the validation and the checkpoint.
- Under load: `busy_core()` keeps one other process spinning on a core while the caller
  measures, and always stops it.
"""
import os
import subprocess
import sys
import time
from contextlib import contextmanager
from pathlib import Path

from PIL import Image, ImageDraw

from bench.runner import REPO, child_env, time_command
from mnist.download import DEFAULT_DATA_DIR, ensure_mnist, resolve_data_dir
from mnist.errors import MnistError

AS_A_USER = {"PYTHONDONTWRITEBYTECODE": None}  # unset: .pyc files are read and written
# One core spinning: pure Python arithmetic, no system calls, except a look every million turns
# at whether its parent (the benchmark, whose pid it is given) is still there, so that it ends
# even if the benchmark is killed, also before the spinner has started.
SPIN = """import os, sys
parent = int(sys.argv[1])
while os.getppid() == parent:
    for _ in range(10**6):
        pass
"""


def digit_png(path: Path) -> None:
    """A user-style image to recognise: a dark 7 drawn on a light 200x200 page."""
    image = Image.new("L", (200, 200), 235)
    ImageDraw.Draw(image).line([(50, 40), (150, 40), (90, 170)], fill=20, width=18)
    image.save(path)


def single_image_times(runs: int, env: dict, workdir: Path, imports: dict) -> dict:
    """Fresh-process seconds of `runs` runs each of `evaluate.py one.png` (or why it was not
    timed), of `import numpy, PIL.Image`, and of each of `imports` ({name: (module, env)}: a
    framework's import statement and the environment it needs)."""
    python, env = sys.executable, {**env, **AS_A_USER}
    times = {"import_numpy_pil": time_command([python, "-c", "import numpy, PIL.Image"], runs, env)}
    for name, (module, module_env) in imports.items():
        command = [python, "-c", f"import {module}"]
        times[f"import_{name}"] = time_command(command, runs, {**env, **module_env})
    missing = [name for name in ("evaluate.py", "models/shipped/mnist_cnn.npz") if not (REPO / name).exists()]
    if missing:
        times["evaluate"] = f"skipped: {' and '.join(missing)} missing"
        return times
    png = workdir / "one.png"
    digit_png(png)
    try:
        times["evaluate"] = time_command([python, "evaluate.py", str(png)], runs, env)
    except RuntimeError as error:
        times["evaluate"] = f"failed: {str(error)[-300:]}"
    return times


def data_dir() -> Path:
    """train.py's data directory as seen from the repository: $MNIST_DATA_DIR, else data/mnist there."""
    return resolve_data_dir().resolve() if os.environ.get("MNIST_DATA_DIR") else REPO / DEFAULT_DATA_DIR


def train_py_epochs(images: int, env: dict, workdir: Path) -> dict | str:
    """Wall-clock seconds of `train.py --epochs 1` and of `--epochs 2` (on the first `images`
    training images, with --limit if fewer than 60,000), each once, in that order; or why not.
    The data are verified first, which also brings the files into the disk cache."""
    data = data_dir()
    try:
        ensure_mnist(data, progress=False)
    except MnistError as error:
        return f"skipped: no MNIST data ({error})"
    seconds = {}
    for epochs in (1, 2):
        command = [sys.executable, "train.py", "--epochs", str(epochs), "--data-dir", str(data),
                   "--out", str(workdir / f"train-{epochs}")]
        if images < 60_000:
            command += ["--limit", str(images)]
        start = time.perf_counter()
        proc = subprocess.run(command, cwd=REPO, env=child_env({**env, **AS_A_USER}),
                              capture_output=True, text=True)
        if proc.returncode != 0:
            return f"failed: train.py exit {proc.returncode}: {(proc.stderr or proc.stdout).strip()[-300:]}"
        seconds[f"epochs_{epochs}_s"] = time.perf_counter() - start
    return seconds


@contextmanager
def busy_core():
    """One other process spinning on a core for the duration of the `with` block (it yields
    the process); stopped on the way out, however the block ends: normally, by an exception, or
    by Ctrl-C."""
    spinner = subprocess.Popen([sys.executable, "-c", SPIN, str(os.getpid())])
    try:
        yield spinner
    finally:
        spinner.terminate()
        try:
            spinner.wait(timeout=5)
        except subprocess.TimeoutExpired:
            spinner.kill()
            spinner.wait()
