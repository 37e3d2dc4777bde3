"""Train the MNIST CNN:  python train.py  (python train.py --help lists every flag)

What a run does:
  1. load MNIST and hold out the last 1,000 training images (1/60) for validation;
  2. every epoch: shuffle; for each batch of 128 images, augment them (small random shifts,
     rotations and scalings), forward, loss, backward and one Adam step, with a learning rate
     that decays (cosine) from epoch to epoch; then measure the validation loss and accuracy,
     and save a checkpoint (training/loop.py);
  3. measure the test accuracy and write into --out: mnist_cnn.npz (weights and metadata),
     metrics.csv (one row per epoch), training_curves.png and confusion_matrix.png.

Nothing is lost. Ctrl-C finishes the current step, saves --out/checkpoint.npz and prints how to
resume; `--resume` continues from it and ends with exactly the weights an uninterrupted run
would have had. That works because every random number can be reproduced (training/seeds.py),
and the Dropout generator's state is in the checkpoint with the weights and Adam's moments.
A run never writes into models/shipped/, where the model that comes with the project lives.
"""
import argparse
import os
import platform
import sys
import tempfile
import threading
import time
from datetime import datetime, timezone
from pathlib import Path

import numba
import numpy as np

from mnist.augment import augment_batch
from mnist.dataset import load_mnist, split_validation
from mnist.errors import MnistError
from nncore import Adam, ModelFileError, SoftmaxCrossEntropy, mnist_cnn, save_model
from nncore.runtime import configure_for_kernels
from training.checkpoint import load_checkpoint
from training.loop import CHECKPOINT_FILE, METRICS_FILE, Diverged, StopOnCtrlC, fit
from training.plots import plot_confusion_matrix, plot_curves
from training.progress import new_epoch, progress_problem
from training.recipe import DEFAULTS as RECIPE
from training.recipe import FLAG_TYPES, MAX_BATCH, MAX_EPOCHS, TRAINING_FLAGS
from training.step import evaluate, train_step

MODEL_FILE, CURVES_FILE, CONFUSION_FILE = "mnist_cnn.npz", "training_curves.png", "confusion_matrix.png"
MODELS_DIR = Path(__file__).resolve().parent / "models"  # evaluate.py's first choice is here
SHIPPED_DIR = MODELS_DIR / "shipped"                     # never written by a run
DEFAULTS = {**RECIPE, "data_dir": None, "out": str(MODELS_DIR), "resume": None}
NORMALIZATION = ("mnist.normalize.to_model_input: uint8 pixels / 255 -> float32 in [0, 1] "
                 "(0 = background, 1 = ink), shape (N, 28, 28, 1)")
COMPILE_NOTICE_S = 1.0  # say that the kernels are compiling when loading them takes longer
ENVIRONMENT = """environment variables:
  MNIST_DATA_DIR  the MNIST directory when --data-dir is not given (default data/mnist)
  MNIST_MIRRORS   base URLs (http://, https:// or file://, separated by commas) to download the
                  four MNIST files from, instead of the public mirrors; for a machine offline,
                  put train-images-idx3-ubyte.gz, train-labels-idx1-ubyte.gz,
                  t10k-images-idx3-ubyte.gz and t10k-labels-idx1-ubyte.gz in the data directory

exit status: 0 trained and saved; 1 the run failed (data, disk, a diverging loss); 2 a usage error,
an unusable --out or --resume file, or an unfinished run in --out; 130 stopped by Ctrl-C (a
checkpoint saved: continue with --resume)"""


class Abort(Exception):
    """A reason to stop that the user should read: printed without a traceback."""

    def __init__(self, message, exit_code=1):
        super().__init__(message)
        self.exit_code = exit_code


def build_parser() -> argparse.ArgumentParser:
    """The flags, with no defaults: parse_args returns only those given on the command line."""
    d = DEFAULTS
    p = argparse.ArgumentParser(description="Train the MNIST CNN (NumPy + Numba) and save it, "
                                "with its metrics and plots, in --out.",
                                argument_default=argparse.SUPPRESS, allow_abbrev=False,
                                epilog=ENVIRONMENT, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--epochs", type=FLAG_TYPES["epochs"],
                   help=f"passes over the training images, 1-{MAX_EPOCHS} (default {d['epochs']})")
    p.add_argument("--batch-size", type=FLAG_TYPES["batch_size"],
                   help=f"images per Adam step, 1-{MAX_BATCH} (default {d['batch_size']})")
    p.add_argument("--lr", type=FLAG_TYPES["lr"],
                   help="Adam's learning rate in the first epoch; it decays (cosine) toward lr/100 "
                   f"over the run (default {d['lr']})")
    p.add_argument("--seed", type=FLAG_TYPES["seed"],
                   help="seed of the initial weights, batch order, dropout and augmentation, 0 or "
                   f"more: the same seed and flags give the same model (default {d['seed']})")
    p.add_argument("--limit", type=FLAG_TYPES["limit"], metavar="N",
                   help="use only the first N training images, validation included, for quick "
                   "runs (default: all 60,000)")
    p.add_argument("--val-fraction", type=FLAG_TYPES["val_fraction"], metavar="F",
                   help="hold out the last fraction F (between 0 and 1) of the training "
                   "images to validate on after each epoch (default 1/60: 1,000 images)")
    p.add_argument("--augment", action=argparse.BooleanOptionalAction,
                   help="randomly shift, rotate and scale the training images a little, a fresh "
                   "draw every time (default: on)")
    p.add_argument("--data-dir", help="the MNIST directory; missing files are downloaded into it "
                   "(default: $MNIST_DATA_DIR, else data/mnist)")
    p.add_argument("--out", help="where the model, metrics, plots and checkpoint go (default: "
                   "models/ in the repository, where evaluate.py looks first; the shipped model in "
                   "models/shipped/ is never overwritten)")
    p.add_argument("--resume", metavar="CHECKPOINT",
                   help="continue the interrupted run saved in CHECKPOINT (e.g. "
                   "models/checkpoint.npz), with the flags it was started with")
    return p


def main(argv=None) -> int:
    configure_for_kernels()   # one level of threads; before the first kernel loads BLAS
    try:
        return run(vars(build_parser().parse_args(argv)))
    except (Abort, Diverged) as e:
        print(f"error: {e}", file=sys.stderr)
        return e.exit_code if isinstance(e, Abort) else 1
    except ModelFileError as e:   # an unusable --resume file, as evaluate.py's unusable --model
        print(f"error: {e}", file=sys.stderr)
        return 2
    except (MnistError, OSError) as e:
        print(f"error: {e}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        print("\ninterrupted: the last checkpoint saved, if any, is intact; continue with "
              "`python train.py --resume <out>/checkpoint.npz`", file=sys.stderr)
        return 130


def run(given: dict) -> int:
    if "resume" in given:
        # The checkpoint overwrites the weights, Adam's state and the Dropout generator.
        model, optimizer = mnist_cnn(), Adam()
        progress = check_progress(given["resume"], load_checkpoint(given["resume"], model, optimizer))
        settings = resumed_settings(progress["flags"], given)
        print(f"resuming {given['resume']} at epoch {progress['epoch'] + 1}, "
              f"batch {progress['batch']}", flush=True)
    else:
        settings = {**DEFAULTS, **given}
        model, optimizer = mnist_cnn(settings["seed"]), Adam()
        progress = {"epoch": 0, "history": [], **new_epoch()}
    progress["flags"] = {key: settings[key] for key in DEFAULTS if key != "resume"}
    out = Path(settings["out"])
    checkpoint = out / CHECKPOINT_FILE
    if "resume" not in given and checkpoint.exists():
        raise Abort(f"{checkpoint} holds an unfinished run: continue it with "
                    f"`python train.py --resume {checkpoint}`, or delete it to start afresh", 2)
    prepare_out(out)
    data = load_mnist(settings["data_dir"])
    splits = training_data(data, settings)
    print(f"training on {len(splits[0]):,} images ({'with' if settings['augment'] else 'without'} "
          f"augmentation), validating on {len(splits[2]):,}; {settings['epochs']} epoch(s) of "
          f"batch {settings['batch_size']}", flush=True)
    compile_kernels()
    with StopOnCtrlC() as stop:
        finished = fit(model, optimizer, splits, settings, progress, out, stop)
    if not finished:
        print(f"\nstopped by Ctrl-C; saved {checkpoint} (epoch {progress['epoch'] + 1}, batch "
              f"{progress['batch']}). Continue with:\n  python train.py --resume {checkpoint}",
              file=sys.stderr)
        return 130
    finish(model, data, splits, settings, progress, out)
    checkpoint.unlink(missing_ok=True)
    return 0


def prepare_out(out: Path) -> None:
    """Make sure --out can be written now, not after the first epoch's work, and is not where the
    shipped model lives; remove the temporary files that a crash in the middle of a save leaves."""
    if out.resolve() == SHIPPED_DIR.resolve():
        raise Abort(f"--out {out}: that is the shipped model's directory, which training never "
                    "overwrites; choose another (the default is models/)", 2)
    try:
        out.mkdir(parents=True, exist_ok=True)
        with tempfile.TemporaryFile(dir=out):
            pass
    except OSError as e:
        raise Abort(f"--out {out}: cannot write there ({e.strerror})", 2) from None
    for name in (MODEL_FILE, CHECKPOINT_FILE, METRICS_FILE):
        for stale in out.glob(f"{name}.*.tmp"):
            stale.unlink(missing_ok=True)
            print(f"removed {stale}, left by an interrupted save", file=sys.stderr)


def check_progress(path, progress) -> dict:
    """The progress record of a checkpoint, checked field by field: a resumed run trusts it."""
    problem = progress_problem(progress)
    if problem:
        raise Abort(f"{path}: malformed checkpoint: {problem}", 2)
    return progress


def compile_kernels() -> None:
    """Run one training step of a throwaway model, so that Numba compiles every kernel now
    (one to two minutes, the first run only) or loads them from its cache (later runs), and say so
    when it takes long. The real model's weights and random streams are not touched."""
    said = threading.Event()

    def say():
        print("compiling the kernels (first run only, one to two minutes) ...", file=sys.stderr, flush=True)
        said.set()
    timer, started = threading.Timer(COMPILE_NOTICE_S, say), time.perf_counter()
    timer.start()
    try:
        model = mnist_cnn(0)
        x = augment_batch(np.zeros((2, 28, 28, 1), np.float32), np.random.default_rng(0))
        train_step(model, SoftmaxCrossEntropy(), Adam(), x, np.zeros(2, np.uint8))
        model.eval()
        model.forward(x)
    finally:
        timer.cancel()
    if said.is_set():
        print(f"compiled in {time.perf_counter() - started:.0f} s; later runs load the kernels from "
              "Numba's cache", file=sys.stderr, flush=True)


def resumed_settings(saved: dict, given: dict) -> dict:
    """The settings of the run being resumed. The command line may move its data or output
    directory, but not change a flag that decides what it computes."""
    changed = [f"--{key.replace('_', '-')} {given[key]} (the run has {saved[key]})"
               for key in TRAINING_FLAGS if key in given and given[key] != saved[key]]
    if changed:
        raise Abort("a resumed run keeps the flags it started with, so that it ends exactly where "
                    "an uninterrupted run would; drop " + ", ".join(changed), 2)
    return {**DEFAULTS, **saved, **given}


def training_data(data, settings):
    """(train images, train labels, validation images, validation labels), uint8 views."""
    images, labels = data.train_images, data.train_labels
    if settings["limit"]:
        images, labels = images[:settings["limit"]], labels[:settings["limit"]]
    splits = split_validation(images, labels, settings["val_fraction"])
    if len(splits[0]) == 0 or len(splits[2]) == 0:
        raise Abort(f"{len(images)} images leave none to train or to validate on with "
                    f"--val-fraction {settings['val_fraction']}: raise --limit", 2)
    return splits


def finish(model, data, splits, settings, progress, out) -> None:
    """Measure the test accuracy; save the model, its metadata and the plots."""
    test_loss, test_acc, predictions = evaluate(model, data.test_images, data.test_labels)
    matrix = np.zeros((10, 10), dtype=np.int64)
    np.add.at(matrix, (data.test_labels, predictions), 1)
    last = progress["history"][-1]
    metadata = {
        "description": "MNIST digit classifier (logits for the digits 0-9), trained by train.py",
        "normalization": NORMALIZATION,
        "seed": settings["seed"], "epochs": settings["epochs"],
        "flags": {key: settings[key] for key in TRAINING_FLAGS},
        "training_images": len(splits[0]), "validation_images": len(splits[2]),
        "validation_accuracy": last["val_acc"], "validation_loss": last["val_loss"],
        "test_accuracy": test_acc, "test_loss": test_loss, "test_images": len(predictions),
        "test_confusion_matrix": matrix.tolist(),
        "training_seconds": round(sum(row["seconds"] for row in progress["history"]), 1),
        "versions": {"python": platform.python_version(), "numpy": np.__version__,
                     "numba": numba.__version__},
        "machine": f"{platform.machine()}, {os.cpu_count()} CPUs, {platform.system()}",
        "date": datetime.now(timezone.utc).isoformat(timespec="seconds"),
    }
    save_model(out / MODEL_FILE, model, metadata)
    plot_curves(progress["history"], out / CURVES_FILE, test_accuracy=test_acc,
                augment=settings["augment"])
    plot_confusion_matrix(matrix, out / CONFUSION_FILE,
                          f"MNIST test set: {test_acc:.2%} of {len(predictions):,} correct")
    print(f"test accuracy {test_acc:.2%} ({int(np.trace(matrix))}/{len(predictions)}), test loss "
          f"{test_loss:.4f}; {metadata['training_seconds'] / 60:.1f} min of training. Wrote "
          f"{MODEL_FILE}, {METRICS_FILE}, {CURVES_FILE}, {CONFUSION_FILE} in {out}/", flush=True)


if __name__ == "__main__":
    sys.exit(main())
