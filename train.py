"""Train the MNIST CNN:  python train.py  (python train.py --help lists every flag)

What a run does:
  1. load MNIST and hold out the last 10% of the training images for validation;
  2. every epoch: shuffle; for each batch of 128 images, augment them (small random shifts,
     rotations and scalings), forward, loss, backward and one Adam step, with a learning rate
     that decays (cosine) from epoch to epoch; then measure the validation loss and accuracy,
     and save a checkpoint;
  3. measure the test accuracy and write into --out: mnist_cnn.npz (weights and metadata),
     metrics.csv (one row per epoch), training_curves.png and confusion_matrix.png.

Nothing is lost. Ctrl-C finishes the current step, saves --out/checkpoint.npz and prints how to
resume; `--resume` continues from it and ends with exactly the weights an uninterrupted run
would have had. That works because every random number can be reproduced: the batch order
comes from (seed, epoch), the augmentation from (seed, epoch, batch), and the Dropout generator's
state is in the checkpoint with the weights and Adam's moments.
"""
import argparse
import csv
import itertools
import math
import os
import platform
import signal
import sys
import tempfile
import threading
import time
from datetime import datetime, timezone
from pathlib import Path

import numba
import numpy as np
from tqdm import tqdm

from mnist.augment import augment_batch
from mnist.dataset import iterate_batches, load_mnist, split_validation
from mnist.errors import MnistError
from mnist.normalize import to_model_input
from nncore import Adam, ModelFileError, SoftmaxCrossEntropy, mnist_cnn, save_model
from nncore.checkpoint import load_checkpoint, save_checkpoint
from nncore.plots import plot_confusion_matrix, plot_curves

MODEL_FILE, CHECKPOINT_FILE, METRICS_FILE = "mnist_cnn.npz", "checkpoint.npz", "metrics.csv"
MODELS_DIR = Path(__file__).resolve().parent / "models"  # evaluate.py's first choice is here
SHIPPED_DIR = MODELS_DIR / "shipped"                     # never written by a run
CURVES_FILE, CONFUSION_FILE = "training_curves.png", "confusion_matrix.png"
DEFAULTS = {"epochs": 15, "batch_size": 128, "lr": 1e-3, "seed": 0, "limit": None,
            "val_fraction": 0.1, "augment": True, "data_dir": None, "out": str(MODELS_DIR),
            "resume": None}
# The flags that decide every number a run computes: a resumed run must keep them.
TRAINING_FLAGS = ("epochs", "batch_size", "lr", "seed", "limit", "val_fraction", "augment")
FINAL_LR_FACTOR = 0.01  # the learning rate decays toward lr / 100, reached after the last epoch
# Ends the augmentation's seed [seed, epoch, batch, 1], apart from the weights' seed [seed] and
# the shuffling's [seed, epoch, 2] (NumPy pads a short seed with zeros: [seed, 0, 0, 0] == [seed]).
AUGMENT_STREAM = 1
NORMALIZATION = ("mnist.normalize.to_model_input: uint8 pixels / 255 -> float32 in [0, 1] "
                 "(0 = background, 1 = ink), shape (N, 28, 28, 1)")
METRICS_COLUMNS = ("epoch", "lr", "train_loss", "train_acc", "val_loss", "val_acc", "seconds")
# A batch loss this far above ln(10) = 2.30, the loss of a uniform guess over ten digits (and of
# the freshly initialised network), means training has diverged, finite or not.
DIVERGED_LOSS = 10 * math.log(10)
# Upper bounds of the flags: beyond them a run would not fit in memory, or would never end.
MAX_BATCH, MAX_EPOCHS, MAX_LR, MAX_SEED = 4096, 1000, 10.0, 2**63 - 1
COMPILE_NOTICE_S = 1.0  # say that the kernels are compiling when loading them takes longer
ENVIRONMENT = """environment variables:
  MNIST_DATA_DIR  the MNIST directory when --data-dir is not given (default data/mnist)
  MNIST_MIRRORS   base URLs (http://, https:// or file://, separated by commas) to download the
                  four MNIST files from, instead of the public mirrors; for a machine offline,
                  put train-images-idx3-ubyte.gz, train-labels-idx1-ubyte.gz,
                  t10k-images-idx3-ubyte.gz and t10k-labels-idx1-ubyte.gz in the data directory"""


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
                   f"images to validate on after each epoch (default {d['val_fraction']})")
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


def in_range(kind, low, high, low_inclusive=True, high_inclusive=True):
    """An argparse type: `kind(text)`, refused unless finite and between low and high."""
    def parse(text):
        value = kind(text)
        above = value >= low if low_inclusive else value > low
        below = high is None or (value <= high if high_inclusive else value < high)
        if not (math.isfinite(value) and above and below):
            bounds = f"{'at least' if low_inclusive else 'above'} {low}"
            if high is not None:
                bounds += f" and {'at most' if high_inclusive else 'below'} {high}"
            raise argparse.ArgumentTypeError(f"must be {bounds}, got {text}")
        return value
    parse.__name__ = kind.__name__  # argparse names the type in its error messages
    return parse


FLAG_TYPES = {  # what each numeric flag accepts, from the command line or from a checkpoint
    "epochs": in_range(int, 1, MAX_EPOCHS), "batch_size": in_range(int, 1, MAX_BATCH),
    "lr": in_range(float, 0, MAX_LR, low_inclusive=False), "seed": in_range(int, 0, MAX_SEED),
    "limit": in_range(int, 1, None),
    "val_fraction": in_range(float, 0, 1, low_inclusive=False, high_inclusive=False),
}


def learning_rate(lr, epoch, epochs) -> float:
    """Cosine decay over the run: lr in epoch 0, heading for lr * FINAL_LR_FACTOR at its end."""
    cosine = (1 + math.cos(math.pi * epoch / epochs)) / 2  # 1 at the start, 0 after the last epoch
    return lr * (FINAL_LR_FACTOR + (1 - FINAL_LR_FACTOR) * cosine)


class StopOnCtrlC:
    """The first Ctrl-C (SIGINT) only sets `requested`: training finishes its step, saves a
    checkpoint and stops. A second Ctrl-C raises KeyboardInterrupt, as usual."""

    def __enter__(self):
        self.requested = False
        self.previous = signal.signal(signal.SIGINT, self._handle)
        return self

    def _handle(self, signum, frame):
        self.requested = True
        signal.signal(signal.SIGINT, signal.default_int_handler)

    def __exit__(self, *exc):
        signal.signal(signal.SIGINT, self.previous)


def main(argv=None) -> int:
    try:
        return run(vars(build_parser().parse_args(argv)))
    except Abort as e:
        print(f"error: {e}", file=sys.stderr)
        return e.exit_code
    except (MnistError, ModelFileError, OSError) as e:
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
        finished = train(model, optimizer, splits, settings, progress, out, stop)
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
    def need(ok, what):
        if not ok:
            raise Abort(f"{path}: malformed checkpoint: {what}", 2)

    def count(value):
        return type(value) is int and 0 <= value <= 2**62

    def number(value):
        return type(value) in (int, float) and math.isfinite(value) and value >= 0

    need(isinstance(progress, dict), "the progress record is not a mapping")
    for key in ("epoch", "batch", "seen", "correct"):
        need(count(progress.get(key)), f"progress {key!r} is not a count")
    for key in ("loss_sum", "seconds"):
        need(number(progress.get(key)), f"progress {key!r} is not a number")
    flags = progress.get("flags")
    need(isinstance(flags, dict) and set(DEFAULTS) - {"resume"} <= set(flags), "flags are missing")
    need(type(flags["augment"]) is bool, "flag augment is not true or false")
    for key, check in FLAG_TYPES.items():
        value = flags[key]
        if not (key == "limit" and value is None):
            need(type(value) in (int, float), f"flag {key} is not a number")
            try:
                check(str(value))
            except (argparse.ArgumentTypeError, ValueError) as e:
                need(False, f"flag {key}: {e}")
    history = progress.get("history")
    need(isinstance(history, list) and len(history) == progress["epoch"] <= flags["epochs"],
         "the epochs done do not match the history")
    for row in history:
        need(isinstance(row, dict) and set(row) == set(METRICS_COLUMNS)
             and all(number(row[key]) for key in METRICS_COLUMNS), "a history row is malformed")
    return progress


def compile_kernels() -> None:
    """Run one training step of a throwaway model, so that Numba compiles every kernel now
    (about 20 s, the first run only) or loads them from its cache (later runs), and say so
    when it takes long. The real model's weights and random streams are not touched."""
    said = threading.Event()

    def say():
        print("compiling the kernels (first run only, about 20 s) ...", file=sys.stderr, flush=True)
        said.set()
    timer, started = threading.Timer(COMPILE_NOTICE_S, say), time.perf_counter()
    timer.start()
    try:
        model, loss_fn, optimizer = mnist_cnn(0), SoftmaxCrossEntropy(), Adam()
        x = augment_batch(np.zeros((2, 28, 28, 1), np.float32), np.random.default_rng(0))
        loss_fn.forward(model.forward(x), np.zeros(2, np.uint8))
        model.backward(loss_fn.backward())
        optimizer.step(model)
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


def new_epoch() -> dict:
    """The running totals of an epoch, before its first batch."""
    return {"batch": 0, "seen": 0, "loss_sum": 0.0, "correct": 0, "seconds": 0.0}


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


def train(model, optimizer, splits, settings, progress, out, stop) -> bool:
    """Run the remaining epochs, updating `progress`. False if Ctrl-C stopped it (after
    saving the checkpoint)."""
    x_train, y_train, x_val, y_val = splits
    checkpoint = out / CHECKPOINT_FILE
    seed, epochs, batch_size = settings["seed"], settings["epochs"], settings["batch_size"]
    loss_fn = SoftmaxCrossEntropy()
    model.train()
    while progress["epoch"] < epochs and not stop.requested:
        epoch, started = progress["epoch"], time.perf_counter()
        optimizer.lr = learning_rate(settings["lr"], epoch, epochs)
        # The order depends on (seed, epoch) only: a resumed epoch skips the batches it did.
        batches = itertools.islice(iterate_batches(len(x_train), batch_size, seed, epoch),
                                   progress["batch"], None)
        # The bar is closed (its line cleared) before anything else is printed, errors included.
        with tqdm(total=len(x_train), initial=progress["seen"], unit="img", leave=False,
                  desc=f"epoch {epoch + 1}/{epochs}", dynamic_ncols=True, mininterval=0.5) as bar:
            for batch, index in enumerate(batches, start=progress["batch"]):
                x, y = to_model_input(x_train[index]), y_train[index]
                if settings["augment"]:
                    x = augment_batch(x, np.random.default_rng([seed, epoch, batch, AUGMENT_STREAM]))
                loss = loss_fn.forward(model.forward(x), y)
                if not loss <= DIVERGED_LOSS:   # NaN too
                    raise Abort(diverged_message(loss, epoch, batch, checkpoint))
                model.backward(loss_fn.backward())
                optimizer.step(model)
                progress["batch"] = batch + 1
                progress["seen"] += len(y)
                progress["loss_sum"] += loss * len(y)
                progress["correct"] += int(np.count_nonzero(loss_fn.probabilities.argmax(axis=1) == y))
                bar.update(len(y))
                bar.set_postfix(loss=f"{progress['loss_sum'] / progress['seen']:.4f}",
                                acc=f"{progress['correct'] / progress['seen']:.2%}", refresh=False)
                if stop.requested:
                    break
        progress["seconds"] += time.perf_counter() - started
        if stop.requested:
            save_checkpoint(checkpoint, model, optimizer, progress)
            return False
        end_epoch(model, optimizer, x_val, y_val, progress, epochs)
        save_checkpoint(checkpoint, model, optimizer, progress)
        write_metrics(out / METRICS_FILE, progress["history"])   # after the checkpoint it describes
    return not stop.requested


def diverged_message(loss, epoch, batch, checkpoint) -> str:
    kept = (f"the last good checkpoint, {checkpoint}, is kept" if checkpoint.exists()
            else "no epoch had finished, so there is no checkpoint")
    how = "became" if not math.isfinite(loss) else f"grew far beyond {math.log(10):.2f} (a guess) to"
    return (f"the loss {how} {loss:.4g} at epoch {epoch + 1}, batch {batch}: training diverged "
            f"and stopped; {kept}. Try a lower --lr.")


def end_epoch(model, optimizer, x_val, y_val, progress, epochs) -> None:
    """Validate, record the epoch's metrics, print its summary line and start the next one."""
    started = time.perf_counter()
    val_loss, val_acc, _ = evaluate(model, x_val, y_val)
    row = {"epoch": progress["epoch"] + 1, "lr": optimizer.lr,
           "train_loss": progress["loss_sum"] / progress["seen"],
           "train_acc": progress["correct"] / progress["seen"], "val_loss": val_loss,
           "val_acc": val_acc, "seconds": progress["seconds"] + time.perf_counter() - started}
    progress["history"].append(row)
    progress.update(epoch=progress["epoch"] + 1, **new_epoch())
    print(f"epoch {row['epoch']:2d}/{epochs}  lr {row['lr']:.2e}  "
          f"train loss {row['train_loss']:.4f} acc {row['train_acc']:.2%}  "
          f"val loss {row['val_loss']:.4f} acc {row['val_acc']:.2%}  {row['seconds']:.1f} s", flush=True)


def evaluate(model, images, labels, batch_size=256):
    """-> (mean loss, accuracy, predicted digits) on uint8 images, in inference mode."""
    loss_fn, loss_sum, predictions = SoftmaxCrossEntropy(), 0.0, []
    model.eval()
    for start in range(0, len(images), batch_size):
        logits = model.forward(to_model_input(images[start:start + batch_size]))
        loss_sum += loss_fn.forward(logits, labels[start:start + batch_size]) * len(logits)
        predictions.append(logits.argmax(axis=1))
    model.train()
    predictions = np.concatenate(predictions)
    accuracy = int(np.count_nonzero(predictions == labels)) / len(images)
    return loss_sum / len(images), accuracy, predictions


def write_metrics(path, history) -> None:
    """One CSV row per epoch, written atomically: a temporary file, then a rename."""
    path = Path(path)
    fd, temp = tempfile.mkstemp(prefix=path.name + ".", suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(fd, "w", newline="") as f:
            writer = csv.DictWriter(f, fieldnames=METRICS_COLUMNS)
            writer.writeheader()
            for row in history:
                writer.writerow({key: f"{value:.6g}" if isinstance(value, float) else value
                                 for key, value in row.items()})
        os.chmod(temp, 0o644)
        os.replace(temp, path)
    except BaseException:
        Path(temp).unlink(missing_ok=True)
        raise


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
