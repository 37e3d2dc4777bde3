"""Model files: a save/load round trip, atomic saves, and a clear error for each broken file."""
import io
import json
import os
import zipfile

import numpy as np
import pytest

from nncore import ModelFileError, load_model, mnist_cnn, read_model_file, save_model


@pytest.fixture
def saved(tmp_path):
    model = mnist_cnn(seed=5)
    for _, param, _ in model.parameters():  # non-zero biases, so that they matter
        param += np.float32(0.01)
    path = tmp_path / "model.npz"
    save_model(path, model, metadata={"test_accuracy": 0.99}, extra_arrays={"step": np.array(3)})
    return model, path


def rewrite(path, arrays):
    with open(path, "wb") as f:
        np.savez(f, **arrays)


def stored_arrays(path):
    with np.load(path, allow_pickle=False) as archive:
        return {name: archive[name] for name in archive.files}


def test_round_trip_predicts_identically(saved):
    model, path = saved
    loaded = load_model(path)
    x = np.random.default_rng(0).random((7, 28, 28, 1), dtype=np.float32)
    assert np.array_equal(model.predict(x), loaded.predict(x))
    assert loaded.metadata == {"test_accuracy": 0.99}
    _, _, extra = read_model_file(path, extras={"step": ((), np.int64)})
    assert extra["step"].shape == () and int(extra["step"]) == 3
    assert read_model_file(path)[2] == {}  # extras nobody asked for are skipped, unread


def test_extras_asked_for_must_be_exactly_there(saved):
    _, path = saved
    with pytest.raises(ModelFileError, match=r"missing \['extra/lr'\]"):
        read_model_file(path, extras={"step": ((), np.int64), "lr": ((), np.float64)})
    with pytest.raises(ModelFileError, match="unexpected archive member 'extra/step.npy'"):
        read_model_file(path, extras={})
    with pytest.raises(ModelFileError, match=r"extra array step is int64 \(\), float64 \(\) expected"):
        read_model_file(path, extras={"step": ((), np.float64)})


def test_save_is_atomic_and_keeps_the_old_file_when_interrupted(saved, monkeypatch, tmp_path):
    model, path = saved
    before = path.read_bytes()

    def crash_half_way(f, **arrays):
        f.write(b"PK\x03\x04 partial")
        raise KeyboardInterrupt

    monkeypatch.setattr(np, "savez", crash_half_way)
    with pytest.raises(KeyboardInterrupt):
        save_model(path, model)
    assert path.read_bytes() == before
    assert os.listdir(tmp_path) == ["model.npz"]
    load_model(path)


def expect_error(path, *fragments):
    with pytest.raises(ModelFileError) as info:
        load_model(path)
    message = str(info.value)
    assert str(path) in message
    for fragment in fragments:
        assert fragment in message, message


def test_missing_file(tmp_path):
    expect_error(tmp_path / "nope.npz", "not found")


def test_not_a_model_file(tmp_path):
    path = tmp_path / "model.npz"
    path.write_bytes(b"this is not a zip archive at all")
    expect_error(path, "not a readable model file")


def test_truncated_file(saved):
    _, path = saved
    data = path.read_bytes()
    path.write_bytes(data[: len(data) // 2])
    expect_error(path, "corrupt or truncated")


def test_corrupted_bytes(saved):
    _, path = saved
    data = bytearray(path.read_bytes())
    data[len(data) // 3] ^= 0xFF  # inside a stored array: the zip CRC catches it
    path.write_bytes(bytes(data))
    expect_error(path, "corrupt or truncated")


def test_missing_parameter(saved):
    _, path = saved
    arrays = stored_arrays(path)
    del arrays["2.weight"]
    rewrite(path, arrays)
    expect_error(path, "missing ['2.weight']")


def test_wrong_shape(saved):
    _, path = saved
    arrays = stored_arrays(path)
    arrays["5.weight"] = arrays["5.weight"][:-1]
    rewrite(path, arrays)
    expect_error(path, "5.weight", "(1599, 128)", "(1600, 128)")


def test_wrong_dtype(saved):
    _, path = saved
    arrays = stored_arrays(path)
    arrays["0.bias"] = arrays["0.bias"].astype(np.float64)
    rewrite(path, arrays)
    expect_error(path, "0.bias", "float64", "float32")


def test_non_finite_weights(saved):
    _, path = saved
    arrays = stored_arrays(path)
    arrays["7.bias"][0] = np.nan
    rewrite(path, arrays)
    expect_error(path, "NaN")


def test_unknown_layer_type(saved):
    _, path = saved
    arrays = stored_arrays(path)
    header = json.loads(str(arrays["__model__"]))
    header["layers"][1]["type"] = "os.system"
    arrays["__model__"] = np.array(json.dumps(header))
    rewrite(path, arrays)
    expect_error(path, "unknown layer type 'os.system'")


@pytest.mark.parametrize("key, value, message", [
    ("kernel_size", "3; rm -rf /", "bad configuration"),
    ("kernel_size", [3, 3], "kernel_size must be a whole number from 1 to 28, got [3, 3]"),
    ("activation", "sigmoid", "activation must be None or 'relu'"),
])
def test_bad_layer_configuration(saved, key, value, message):
    _, path = saved
    arrays = stored_arrays(path)
    header = json.loads(str(arrays["__model__"]))
    header["layers"][0]["config"][key] = value
    arrays["__model__"] = np.array(json.dumps(header))
    rewrite(path, arrays)
    expect_error(path, message)


def test_invalid_architecture_json(saved):
    _, path = saved
    arrays = stored_arrays(path)
    arrays["__model__"] = np.array("{not json")
    rewrite(path, arrays)
    expect_error(path, "not valid JSON")


def test_a_pickled_payload_is_never_executed(saved, tmp_path):
    _, path = saved
    marker = tmp_path / "pwned"

    class Exploit:
        def __reduce__(self):
            return (open, (str(marker), "w"))

    buffer = io.BytesIO()
    np.save(buffer, np.array([Exploit()], dtype=object), allow_pickle=True)  # loading it would run open()
    with zipfile.ZipFile(path, "a") as archive:
        archive.writestr("evil.npy", buffer.getvalue())
    expect_error(path, "unexpected archive member 'evil.npy'")
    assert not marker.exists()
