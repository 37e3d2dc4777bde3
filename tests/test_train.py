"""train.py end to end: a short run, Ctrl-C and resume, a crash during a save, a diverging loss,
and the shipped model.

The runs are tiny (a few thousand images, one or two epochs) so the whole file takes well under
two minutes; the real run's accuracy is checked on the shipped model instead.
"""
import importlib.util
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest

from mnist.normalize import to_model_input
from nncore import load_model, read_model_file

REPO = Path(__file__).resolve().parents[1]
SHIPPED_MODEL = REPO / "models" / "mnist_cnn.npz"
OUTPUTS = {"mnist_cnn.npz", "metrics.csv", "training_curves.png", "confusion_matrix.png"}


@pytest.fixture(scope="module")
def train():
    """train.py is a script, not a package module: load it from its path."""
    spec = importlib.util.spec_from_file_location("train", REPO / "train.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def weights(path) -> dict[str, np.ndarray]:
    model, _, _ = read_model_file(path)
    return {name: param for name, param, _ in model.parameters()}


def assert_same_weights(a: dict, b: dict):
    assert a.keys() == b.keys()
    for name in a:
        assert np.array_equal(a[name], b[name]), f"{name} differs"


def metrics_without_times(path) -> list[list[str]]:
    """metrics.csv without its last column (seconds), which no two runs share."""
    return [line.rsplit(",", 1)[0] for line in path.read_text().splitlines()]


def test_short_run_learns_and_writes_every_output(tmp_path, mnist_data_dir, mnist_data):
    out = tmp_path / "run"
    result = subprocess.run(
        [sys.executable, "train.py", "--limit", "3000", "--epochs", "2", "--batch-size", "32",
         "--no-augment", "--data-dir", str(mnist_data_dir), "--out", str(out)],
        cwd=REPO, capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stderr
    assert "epoch  2/2" in result.stdout and "test accuracy" in result.stdout
    assert {p.name for p in out.iterdir()} == OUTPUTS  # and the checkpoint is gone
    for png in ("training_curves.png", "confusion_matrix.png"):
        assert (out / png).read_bytes().startswith(b"\x89PNG\r\n\x1a\n")
    rows = (out / "metrics.csv").read_text().splitlines()
    assert rows[0] == "epoch,lr,train_loss,train_acc,val_loss,val_acc,seconds" and len(rows) == 3

    model = load_model(out / "mnist_cnn.npz")
    meta = model.metadata
    assert meta["training_images"] == 2700 and meta["validation_images"] == 300
    assert meta["flags"]["limit"] == 3000 and meta["flags"]["augment"] is False
    assert {"normalization", "seed", "epochs", "validation_accuracy", "test_accuracy",
            "versions", "date"} <= meta.keys()
    assert np.array(meta["test_confusion_matrix"]).sum() == 10000
    probabilities = model.predict(to_model_input(mnist_data.test_images[:1000]))
    accuracy = np.mean(probabilities.argmax(axis=1) == mnist_data.test_labels[:1000])
    assert accuracy > 0.90


def test_ctrl_c_then_resume_ends_with_bit_identical_weights(tmp_path, mnist_data_dir, train,
                                                            capsys):
    flags = ["--limit", "3000", "--epochs", "2", "--batch-size", "32", "--seed", "3",
             "--data-dir", str(mnist_data_dir)]
    assert train.main(flags + ["--out", str(tmp_path / "uninterrupted")]) == 0

    # A real Ctrl-C (SIGINT) to a real training process, once its second epoch has begun.
    out, stderr = tmp_path / "interrupted", tmp_path / "stderr.txt"
    with open(stderr, "w") as err:
        proc = subprocess.Popen([sys.executable, "train.py", *flags, "--out", str(out)],
                                cwd=REPO, stdout=subprocess.DEVNULL, stderr=err, text=True)
        deadline = time.monotonic() + 240
        while "epoch 2/2" not in stderr.read_text() and proc.poll() is None:
            assert time.monotonic() < deadline, "the run never reached its second epoch"
            time.sleep(0.02)
        proc.send_signal(signal.SIGINT)
        assert proc.wait(timeout=120) == 130, stderr.read_text()
    checkpoint = out / "checkpoint.npz"
    assert f"python train.py --resume {checkpoint}" in stderr.read_text()
    progress = read_model_file(checkpoint)[1]["checkpoint"]["progress"]
    assert progress["epoch"] == 1 and progress["batch"] > 0  # stopped inside epoch 2

    # Resuming with a different training flag is refused, and says why.
    assert train.main(["--resume", str(checkpoint), "--lr", "0.01"]) == 2
    assert "--lr 0.01 (the run has 0.001)" in capsys.readouterr().err

    assert train.main(["--resume", str(checkpoint)]) == 0
    assert not checkpoint.exists()
    assert_same_weights(weights(out / "mnist_cnn.npz"),
                        weights(tmp_path / "uninterrupted" / "mnist_cnn.npz"))
    assert (metrics_without_times(out / "metrics.csv")
            == metrics_without_times(tmp_path / "uninterrupted" / "metrics.csv"))


def test_crash_during_a_save_keeps_the_previous_model(tmp_path, mnist_data_dir, train,
                                                      monkeypatch):
    out = tmp_path / "run"
    flags = ["--limit", "1000", "--epochs", "1", "--no-augment",
             "--data-dir", str(mnist_data_dir), "--out", str(out)]
    assert train.main(flags) == 0
    previous = weights(out / "mnist_cnn.npz")

    # The second run's first save (its checkpoint) succeeds; the second, the model file,
    # crashes after writing part of the archive.
    real_savez, saves = np.savez, []

    def savez_crashing_on_the_model(file, **arrays):
        saves.append(file)
        if len(saves) == 2:
            file.write(b"PK\x03\x04 the first bytes of a zip archive")
            raise OSError("simulated crash in the middle of a save")
        real_savez(file, **arrays)

    monkeypatch.setattr(np, "savez", savez_crashing_on_the_model)
    assert train.main(flags + ["--seed", "1"]) == 1
    monkeypatch.undo()
    assert_same_weights(weights(out / "mnist_cnn.npz"), previous)
    assert {p.name for p in out.iterdir()} == OUTPUTS | {"checkpoint.npz"}  # no temporary file

    # The epoch's checkpoint survived, so the run can still be finished.
    assert train.main(["--resume", str(out / "checkpoint.npz")]) == 0
    assert load_model(out / "mnist_cnn.npz").metadata["seed"] == 1


def test_diverging_loss_stops_and_keeps_the_last_good_checkpoint(tmp_path, mnist_data_dir, train,
                                                                 monkeypatch, capsys):
    """A learning rate of 1e38 from epoch 2 on: one step sends the weights to the edge of float32
    and the next loss overflows to NaN."""
    monkeypatch.setattr(train, "learning_rate", lambda lr, epoch, epochs: lr if epoch == 0 else 1e38)
    out = tmp_path / "run"
    code = train.main(["--limit", "600", "--epochs", "2", "--batch-size", "64", "--no-augment",
                       "--data-dir", str(mnist_data_dir), "--out", str(out)])
    assert code == 1
    message = capsys.readouterr().err
    assert "the loss became nan at epoch 2" in message and "checkpoint.npz, is kept" in message
    model, metadata, _ = read_model_file(out / "checkpoint.npz")  # which checks every weight is finite
    assert metadata["checkpoint"]["progress"]["epoch"] == 1
    assert not (out / "mnist_cnn.npz").exists()


def test_a_fresh_run_will_not_overwrite_an_unfinished_one(tmp_path, train, capsys):
    (tmp_path / "checkpoint.npz").write_bytes(b"an interrupted run")
    assert train.main(["--out", str(tmp_path)]) == 2
    assert f"--resume {tmp_path / 'checkpoint.npz'}" in capsys.readouterr().err


def test_learning_rate_decays_from_lr_toward_lr_over_100(train):
    rates = [train.learning_rate(1e-3, epoch, 15) for epoch in range(15)]
    assert rates[0] == 1e-3
    assert all(a > b for a, b in zip(rates, rates[1:]))
    assert 1e-5 < rates[-1] < 3e-5  # and 1e-5 would come after the last epoch


def test_shipped_model_records_its_true_test_accuracy(train, mnist_data):
    model = load_model(SHIPPED_MODEL)
    predictions = model.predict(to_model_input(mnist_data.test_images)).argmax(axis=1)
    accuracy = np.count_nonzero(predictions == mnist_data.test_labels) / len(predictions)
    assert model.metadata["test_accuracy"] == accuracy
    assert accuracy >= 0.993
    # It is the model that `python train.py` makes with its defaults.
    assert model.metadata["flags"] == {key: train.DEFAULTS[key] for key in train.TRAINING_FLAGS}
