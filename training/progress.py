"""Where a training run stands: the running totals of the epoch in progress, the metrics of the
epochs done, and the flags of the run. It is saved in every checkpoint (training/checkpoint.py)
and in metrics.csv, one row per epoch.

    progress = {"epoch": 3, "batch": 120, "seen": 15360, "loss_sum": ..., "correct": ...,
                "seconds": ..., "history": [row, row, row], "flags": {...}}

A resumed run trusts every number in it, so `check_progress` checks them all first.
"""
import csv
import math
import os
import tempfile
from pathlib import Path

from training.recipe import flag_problem

METRICS_COLUMNS = ("epoch", "lr", "train_loss", "train_acc", "val_loss", "val_acc", "seconds")


def new_epoch() -> dict:
    """The running totals of an epoch, before its first batch."""
    return {"batch": 0, "seen": 0, "loss_sum": 0.0, "correct": 0, "seconds": 0.0}


def progress_problem(progress) -> str | None:
    """None if `progress` is a well-formed record, else what is wrong with it."""
    def count(value):
        return type(value) is int and 0 <= value <= 2**62

    def number(value):
        return type(value) in (int, float) and math.isfinite(value) and value >= 0

    if not isinstance(progress, dict):
        return "the progress record is not a mapping"
    for key in ("epoch", "batch", "seen", "correct"):
        if not count(progress.get(key)):
            return f"progress {key!r} is not a count"
    for key in ("loss_sum", "seconds"):
        if not number(progress.get(key)):
            return f"progress {key!r} is not a number"
    problem = flag_problem(progress.get("flags"))
    if problem:
        return problem
    history = progress.get("history")
    if not (isinstance(history, list) and len(history) == progress["epoch"] <= progress["flags"]["epochs"]):
        return "the epochs done do not match the history"
    for row in history:
        if not (isinstance(row, dict) and set(row) == set(METRICS_COLUMNS)
                and all(number(row[key]) for key in METRICS_COLUMNS)):
            return "a history row is malformed"
    return None


def write_metrics(path, history: list[dict]) -> None:
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
