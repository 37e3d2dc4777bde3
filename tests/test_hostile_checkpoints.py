"""Hostile training checkpoints: every optimiser array must be exactly what the optimiser
keeps, every random-generator state a valid one, or the checkpoint is refused in one line; and
`train.py --resume` says that line instead of crashing.

Adam's kernel has no bounds checks: a 1-element moment used to make it write past the array and
the process die (SIGSEGV); an int64 or missing moment silently broke the bit-identical resume.
"""
import subprocess
import sys

import numpy as np
import pytest
from hostile_files import REPO, craft, members, record, refused, stepped, with_record

from nncore import SGD, Adam, mnist_cnn, read_model_file, save_model
from training.checkpoint import load_checkpoint, save_checkpoint


@pytest.fixture(scope="module")
def files(tmp_path_factory):
    return tmp_path_factory.mktemp("hostile_checkpoints")


@pytest.fixture(scope="module")
def model_path(files):
    path = files / "model.npz"
    save_model(path, mnist_cnn(seed=1))
    return path


@pytest.fixture(scope="module")
def progress():
    """A progress record as train.py writes it, for a short run (1 epoch of 600 images)."""
    flags = {"epochs": 1, "batch_size": 128, "lr": 0.001, "seed": 0, "limit": 600, "val_fraction": 0.1,
             "augment": False, "data_dir": None, "out": "models"}
    return {"epoch": 0, "history": [], "batch": 0, "seen": 0, "loss_sum": 0.0, "correct": 0,
            "seconds": 0.0, "flags": flags}


@pytest.fixture(scope="module")
def adam_checkpoint(files, progress):
    path = files / "adam_checkpoint.npz"
    save_checkpoint(path, *stepped(Adam()), progress)
    return path


@pytest.fixture(scope="module")
def sgd_checkpoint(files, progress):
    path = files / "sgd_checkpoint.npz"
    save_checkpoint(path, *stepped(SGD()), progress)
    return path


def resume(path, optimizer=None):
    return load_checkpoint(path, mnist_cnn(), Adam() if optimizer is None else optimizer)


# --- Checkpoints ---

def test_a_checkpoint_round_trip_restores_everything_exactly(adam_checkpoint, progress):
    source, optimizer = stepped(Adam())
    model, restored = mnist_cnn(), Adam()
    assert load_checkpoint(adam_checkpoint, model, restored) == progress
    assert restored.t == optimizer.t == 1 and restored.m.keys() == optimizer.m.keys()
    for name in optimizer.m:
        assert np.array_equal(restored.m[name], optimizer.m[name])
        assert np.array_equal(restored.v[name], optimizer.v[name]) and restored.v[name].dtype == np.float32
    for (_, a, _), (_, b, _) in zip(model.parameters(), source.parameters()):
        assert np.array_equal(a, b)
    assert model.layers[6].rng.bit_generator.state == source.layers[6].rng.bit_generator.state
    # evaluate.py reads a checkpoint as a plain model, skipping the optimiser state unread.
    model, metadata, extra = read_model_file(adam_checkpoint)
    assert extra == {} and "checkpoint" in metadata


@pytest.mark.parametrize("name, value, problem", [
    ("m/5.weight", np.zeros(1, np.float32),
     "extra array optimizer/m/5.weight is float32 (1,), float32 (1600, 128) expected"),
    ("v/0.bias", np.zeros(32, np.int64),
     "extra array optimizer/v/0.bias is int64 (32,), float32 (32,) expected"),
    ("m/5.weight", np.zeros((1600, 128), np.int64), "member 'extra/optimizer/m/5.weight.npy' declares"),
    ("v/2.bias", None, "the archive is missing ['extra/optimizer/v/2.bias']"),
    ("m/9.weight", np.zeros(3, np.float32), "unexpected archive member 'extra/optimizer/m/9.weight.npy'"),
    ("t", np.array(-1),
     "malformed optimizer state: the step count t is -1, not between 0 and 1,000,000,000"),
    ("t", np.array(10**15), "the step count t is 1000000000000000"),
    ("t", np.array(1.0), "extra array optimizer/t is float64 (), int64 () expected"),
    ("t", np.array([1, 2]), "extra array optimizer/t is int64 (2,), int64 () expected"),
    ("t", None, "the archive is missing ['extra/optimizer/t']"),
    ("m/7.bias", np.full(10, np.nan, np.float32), "malformed optimizer state: m/7.bias holds NaN"),
    ("v/7.bias", np.full(10, -1, np.float32), "malformed optimizer state: a second moment v holds negative"),
])
def test_a_malformed_adam_state(files, adam_checkpoint, name, value, problem):
    path = craft(adam_checkpoint, files / "adam.npz", {"extra/optimizer/" + name: value})
    refused(path, problem, load=resume)


@pytest.mark.parametrize("name, value, problem", [
    ("velocity/5.weight", np.zeros(1, np.float32),
     "extra array optimizer/velocity/5.weight is float32 (1,), float32 (1600, 128) expected"),
    ("velocity/0.bias", np.zeros(32, np.int64), "is int64 (32,), float32 (32,) expected"),
    ("velocity/7.weight", None, "the archive is missing ['extra/optimizer/velocity/7.weight']"),
    ("velocity/x", np.zeros(1, np.float32), "unexpected archive member 'extra/optimizer/velocity/x.npy'"),
])
def test_a_malformed_sgd_state(files, sgd_checkpoint, name, value, problem):
    path = craft(sgd_checkpoint, files / "sgd.npz", {"extra/optimizer/" + name: value})
    refused(path, problem, load=lambda p: resume(p, SGD()))


def test_a_checkpoint_for_another_optimizer_or_model(files, sgd_checkpoint, model_path):
    refused(sgd_checkpoint, "made with the 'SGD' optimizer, not Adam", load=resume)
    refused(model_path, "a model file, but not a training checkpoint", load=resume)


def rng_state(**changes):
    state = np.random.default_rng(0).bit_generator.state
    state.update(changes)
    return state


@pytest.mark.parametrize("states", [
    {}, {"6": rng_state(), "7": rng_state()}, {"6": rng_state(bit_generator="MT19937")},
    {"6": rng_state(state={"state": 1.5, "inc": 3})}, {"6": rng_state(state={"state": -1, "inc": 3})},
    {"6": rng_state(state={"state": 2**130, "inc": 3})}, {"6": rng_state(has_uint32=True)},
    {"6": rng_state(has_uint32=5)}, {"6": "seed"}, ["6"],
])
def test_malformed_random_generator_states(files, adam_checkpoint, states):
    changed = record(adam_checkpoint)
    changed["metadata"]["checkpoint"]["rng_states"] = states
    path = with_record(adam_checkpoint, files / "rng.npz", changed)
    refused(path, "malformed checkpoint record:", "random-generator state", load=resume)


def test_the_optimizers_check_their_state_without_a_file():
    model, adam = stepped(Adam())
    state = adam.state()
    for broken in ({**state, "m/5.weight": np.zeros(1, np.float32)},
                   {key: a for key, a in state.items() if key != "v/0.bias"},
                   {**state, "t": np.array(2.5)}, {**state, "m/0.bias": state["m/0.bias"].astype(np.int64)}):
        fresh = Adam()
        with pytest.raises(ValueError):
            fresh.load_state(broken, model)
        with pytest.raises(ValueError):
            fresh.load_state(broken)  # even with no model, m and v must agree with each other
        assert fresh.t == 0 and fresh.m == {}  # nothing changed
    model, sgd = stepped(SGD())
    with pytest.raises(ValueError, match="velocity/5.weight is float32 \\(3,\\)"):
        SGD().load_state({**sgd.state(), "velocity/5.weight": np.zeros(3, np.float32)}, model)


# --- The command ---

def test_train_resume_refuses_a_one_element_moment_instead_of_crashing(files, adam_checkpoint,
                                                                       mnist_data_dir):
    """This checkpoint used to kill the process: the Adam kernel wrote past the 1-element array.
    With the data at hand, a regression would train, and crash, rather than fail to download."""
    path = craft(adam_checkpoint, files / "resume_me.npz",
                 {"extra/optimizer/m/5.weight": np.zeros(1, np.float32)})
    assert members(path)["extra/optimizer/m/5.weight.npy"].endswith(bytes(4))
    result = subprocess.run([sys.executable, "train.py", "--resume", str(path), "--data-dir",
                             str(mnist_data_dir), "--out", str(files / "resumed")],
                            cwd=REPO, capture_output=True, text=True, timeout=300)
    assert result.returncode == 2, result.stderr  # a crash would be -11 (SIGSEGV)
    assert result.stderr == (f"error: {path}: extra array optimizer/m/5.weight is float32 (1,), "
                             "float32 (1600, 128) expected\n")


