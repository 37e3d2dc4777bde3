"""train.py end to end: a short run, Ctrl-C and resume, a crash during a save, a diverging loss,
and the shipped model.

The runs are tiny (a few thousand images, one or two epochs) so the whole file takes well under
two minutes; the real run's accuracy is checked on the shipped model instead.
"""
import importlib.util
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest

import training.loop
from mnist.normalize import to_model_input
from nncore import load_model, read_model_file
from training.progress import new_epoch
from training.recipe import learning_rate

REPO = Path(__file__).resolve().parents[1]
SHIPPED_MODEL = REPO / "models" / "shipped" / "mnist_cnn.npz"
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
    assert meta["training_images"] == 2950 and meta["validation_images"] == 50   # 1/60 held out
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
    assert "--lr 0.01 (the run has 0.002)" in capsys.readouterr().err

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
    monkeypatch.setattr(training.loop, "learning_rate", lambda lr, epoch, epochs: lr if epoch == 0 else 1e38)
    out = tmp_path / "run"
    code = train.main(["--limit", "600", "--epochs", "2", "--batch-size", "64", "--no-augment",
                       "--data-dir", str(mnist_data_dir), "--out", str(out)])
    assert code == 1
    message = capsys.readouterr().err
    assert "at epoch 2, batch " in message and "training diverged" in message
    assert "checkpoint.npz, is kept" in message
    last = message.replace("\r", "\n").splitlines()[-1]   # the progress bar cleared before it
    assert last.startswith("error: the loss ")
    model, metadata, _ = read_model_file(out / "checkpoint.npz")  # which checks every weight is finite
    assert metadata["checkpoint"]["progress"]["epoch"] == 1
    assert not (out / "mnist_cnn.npz").exists()


def test_a_fresh_run_will_not_overwrite_an_unfinished_one(tmp_path, train, capsys):
    (tmp_path / "checkpoint.npz").write_bytes(b"an interrupted run")
    assert train.main(["--out", str(tmp_path)]) == 2
    assert f"--resume {tmp_path / 'checkpoint.npz'}" in capsys.readouterr().err


def test_learning_rate_decays_from_lr_toward_lr_over_100():
    rates = [learning_rate(1e-3, epoch, 15) for epoch in range(15)]
    assert rates[0] == 1e-3
    assert all(a > b for a, b in zip(rates, rates[1:]))
    assert 1e-5 < rates[-1] < 3e-5  # and 1e-5 would come after the last epoch


def test_shipped_model_records_its_true_test_accuracy(train, mnist_data):
    model = load_model(SHIPPED_MODEL)
    predictions = model.predict(to_model_input(mnist_data.test_images)).argmax(axis=1)
    accuracy = np.count_nonzero(predictions == mnist_data.test_labels) / len(predictions)
    assert model.metadata["test_accuracy"] == accuracy
    assert accuracy >= 0.995
    # It is the model that `python train.py` makes with its defaults.
    assert model.metadata["flags"] == {key: train.DEFAULTS[key] for key in train.TRAINING_FLAGS}


# --- Bad flags, bad checkpoints, a diverging run: one clear line each, found before any work. ---

@pytest.mark.parametrize("argv, message", [
    (["--seed", "-1"], "--seed: must be at least 0"),
    (["--batch-size", "100000"], "--batch-size: must be at least 1 and at most 4096"),
    (["--lr", "inf"], "--lr: must be above 0"),
    (["--lr", "nan"], "--lr: must be above 0"),
    (["--epochs", "0"], "--epochs: must be at least 1"),
    (["--val-fraction", "1"], "--val-fraction: must be above 0 and below 1"),
    (["--epoch", "3"], "unrecognized arguments: --epoch 3"),    # no abbreviations
])
def test_bad_flags_are_refused_with_one_line(train, capsys, argv, message):
    with pytest.raises(SystemExit) as exit_:
        train.main(argv)
    assert exit_.value.code == 2
    err = capsys.readouterr().err
    assert message in err and "Traceback" not in err


def test_an_unwritable_out_is_found_before_loading_any_data(train, tmp_path, capsys):
    (tmp_path / "file").write_text("")
    code = train.main(["--out", str(tmp_path / "file" / "run"), "--data-dir", str(tmp_path / "none")])
    assert code == 2
    out = tmp_path / "file" / "run"
    assert capsys.readouterr().err == f"error: --out {out}: cannot write there (Not a directory)\n"
    assert not (tmp_path / "none").exists()


def test_a_finite_but_exploding_loss_stops_the_run(train, tmp_path, mnist_data_dir, capsys):
    out = tmp_path / "run"
    out.mkdir()
    stale = out / "checkpoint.npz.k2j3h4.tmp"    # left by a crash in the middle of a save
    stale.write_bytes(b"PK\x03\x04 half an archive")
    code = train.main(["--limit", "600", "--epochs", "1", "--batch-size", "32", "--lr", "10",
                       "--no-augment", "--data-dir", str(mnist_data_dir), "--out", str(out)])
    assert code == 1
    err = capsys.readouterr().err
    assert f"removed {stale}" in err and not stale.exists()
    last = err.splitlines()[-1]
    assert last.startswith("error: the loss ") and "training diverged and stopped" in last


def test_metrics_are_written_after_the_checkpoint_they_describe(train, tmp_path, mnist_data_dir,
                                                                monkeypatch, capsys):
    def crash(*args):
        raise OSError(28, "No space left on device")
    monkeypatch.setattr(training.loop, "save_checkpoint", crash)
    out = tmp_path / "run"
    code = train.main(["--limit", "600", "--epochs", "1", "--no-augment",
                       "--data-dir", str(mnist_data_dir), "--out", str(out)])
    assert code == 1 and "No space left on device" in capsys.readouterr().err
    assert list(out.iterdir()) == []      # no metrics.csv describing a checkpoint that is not there


def one_step_state():
    """A model and an Adam optimiser after one real step: a valid state to save."""
    from nncore import Adam, SoftmaxCrossEntropy, mnist_cnn
    model, optimizer, loss_fn = mnist_cnn(0), Adam(), SoftmaxCrossEntropy()
    loss_fn.forward(model.forward(np.zeros((2, 28, 28, 1), np.float32)), np.array([1, 2]))
    model.backward(loss_fn.backward())
    optimizer.step(model)
    return model, optimizer


@pytest.mark.parametrize("change, problem", [
    ({"epoch": "three"}, "progress 'epoch' is not a count"),
    ({"batch": -5}, "progress 'batch' is not a count"),
    ({"loss_sum": None}, "progress 'loss_sum' is not a number"),
    ({"flags": {}}, "flags are missing"),
    ({"epoch": 1, "history": [{"epoch": 1}]}, "a history row is malformed"),
    ({"epoch": 2}, "the epochs done do not match the history"),
    ("flags.seed", "flag seed: must be at least 0"),
    ("flags.batch_size", "flag batch_size: must be at least 1 and at most 4096"),
    ("not a dict", "the progress record is not a mapping"),
])
def test_a_checkpoint_with_bad_progress_is_refused_in_one_line(train, tmp_path, capsys, change, problem):
    from training.checkpoint import save_checkpoint
    model, optimizer = one_step_state()
    flags = {key: value for key, value in train.DEFAULTS.items() if key != "resume"}
    progress = {"epoch": 0, "history": [], **new_epoch(), "flags": flags}
    if change == "flags.seed":
        flags["seed"] = -1
    elif change == "flags.batch_size":
        flags["batch_size"] = 10**9
    elif change == "not a dict":
        progress = ["epoch", 0]
    else:
        progress.update(change)
    path = tmp_path / "checkpoint.npz"
    save_checkpoint(path, model, optimizer, progress)
    assert train.main(["--resume", str(path)]) == 2
    err = capsys.readouterr().err
    assert err.startswith(f"error: {path}: malformed checkpoint: {problem}") and err.count("\n") == 1


def test_slow_kernel_loading_is_announced_and_its_end_shown(train, monkeypatch, capsys):
    monkeypatch.setattr(train, "COMPILE_NOTICE_S", 0.0)
    train.compile_kernels()
    first, second = capsys.readouterr().err.splitlines()
    assert first == "compiling the kernels (first run only, one to two minutes) ..."
    assert second.startswith("compiled in ") and "Numba's cache" in second


def test_training_never_overwrites_the_shipped_model(train, tmp_path, mnist_data_dir, capsys):
    shipped = SHIPPED_MODEL.read_bytes()
    assert Path(train.DEFAULTS["out"]).resolve() == SHIPPED_MODEL.parent.parent   # models/, not shipped/
    for out in (SHIPPED_MODEL.parent, SHIPPED_MODEL.parent / ".." / "shipped"):
        assert train.main(["--limit", "600", "--epochs", "1", "--out", str(out),
                           "--data-dir", str(mnist_data_dir)]) == 2
        assert "the shipped model's directory" in capsys.readouterr().err
    assert SHIPPED_MODEL.read_bytes() == shipped
