"""The epoch loop of a training run: batches, progress bar, validation, checkpoints, Ctrl-C.

    with StopOnCtrlC() as stop:
        finished = fit(model, optimizer, splits, settings, progress, out, stop)

Every epoch: the learning rate of the schedule (training/recipe.py); the batches in the
epoch's shuffled order (training/seeds.py), each augmented with its own generator and given to
`train_step`; then the validation loss and accuracy, a checkpoint, and metrics.csv. A run that
is resumed skips the batches its epoch had done and computes the same numbers from there on.
Ctrl-C finishes the step, saves a checkpoint and returns False. A loss that diverges raises
`Diverged`: the last checkpoint (of the last whole epoch) is left as it was.
"""
import itertools
import math
import signal
import time

import numpy as np
from tqdm import tqdm

from mnist.augment import augment_batch
from mnist.dataset import iterate_batches
from mnist.normalize import to_model_input
from nncore import SoftmaxCrossEntropy
from training import seeds
from training.checkpoint import save_checkpoint
from training.progress import new_epoch, write_metrics
from training.recipe import AUGMENTATION, DIVERGED_LOSS, learning_rate
from training.step import evaluate, train_step

CHECKPOINT_FILE, METRICS_FILE = "checkpoint.npz", "metrics.csv"


class Diverged(Exception):
    """The loss ran away: training stopped, with a message that says what to try."""


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


def fit(model, optimizer, splits, settings, progress, out, stop) -> bool:
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
        # A resumed epoch draws the same order and skips the batches it did.
        batches = itertools.islice(iterate_batches(len(x_train), batch_size, seeds.shuffling(seed, epoch)),
                                   progress["batch"], None)
        # The bar is closed (its line cleared) before anything else is printed, errors included.
        with tqdm(total=len(x_train), initial=progress["seen"], unit="img", leave=False,
                  desc=f"epoch {epoch + 1}/{epochs}", dynamic_ncols=True, mininterval=0.5) as bar:
            for batch, index in enumerate(batches, start=progress["batch"]):
                x, y = to_model_input(x_train[index]), y_train[index]
                if settings["augment"]:
                    x = augment_batch(x, seeds.augmentation(seed, epoch, batch), **AUGMENTATION)
                loss = train_step(model, loss_fn, optimizer, x, y)
                if not loss <= DIVERGED_LOSS:   # NaN too
                    raise Diverged(diverged_message(loss, epoch, batch, checkpoint))
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
