"""Hostile model files: each is refused with one line naming the file and the problem, before
it can take much memory, and evaluate.py shows that line and exits with status 2, no traceback.

The files are crafted from a real one (see hostile_files.py): zip bombs, sizes out of all
proportion, files that are not model files, broken architecture records, weights that overflow.
The checkpoints' optimiser state is in test_hostile_checkpoints.py.
"""
import json
import math
import struct
import subprocess
import sys
import warnings
import zipfile
from pathlib import Path

import numpy as np
import pytest
from hostile_files import (
    REPO,
    MiB,
    array,
    craft,
    load_in_child,
    members,
    npy,
    npy_header,
    record,
    refused,
    stored_entries,
    with_record,
    write_zip_by_hand,
    zeros_deflated,
)
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from nncore import Dense, ModelFileError, Sequential, load_model, mnist_cnn, save_model

IMAGE = REPO / "examples" / "one_white_on_black.png"


@pytest.fixture(scope="module")
def files(tmp_path_factory):
    return tmp_path_factory.mktemp("hostile_models")


@pytest.fixture(scope="module")
def model_path(files):
    path = files / "model.npz"
    save_model(path, mnist_cnn(seed=1), metadata={"test_accuracy": 0.99})
    return path


@pytest.fixture(scope="module")
def bomb_stream():
    """A (1600, 128) float32 .npy header and 1.1 GiB of zeros, deflated into about 1 MB."""
    return zeros_deflated(npy_header((1600, 128)), 1100)


# --- Zip bombs and sizes out of proportion ---

def test_a_zip_bomb_among_the_extras_is_refused_without_being_inflated(files, model_path, bomb_stream):
    stream, crc, size = bomb_stream
    path = files / "bomb.npz"
    write_zip_by_hand(path, stored_entries(model_path) + [("extra/m.npy", stream, zipfile.ZIP_DEFLATED,
                                                           crc, size)])
    assert path.stat().st_size < 3 * MiB and zipfile.ZipFile(path).getinfo("extra/m.npy").file_size > 2**30
    refused(path, "its extra arrays declare 1,153,433,728 bytes, more than the 3,748,984 an "
            "optimiser's state for this model could take (a zip bomb?)")
    grown, outcome = load_in_child(path)
    print(f"zip bomb among the extras: peak memory grew by {grown:.1f} MiB while refusing it")
    assert "a zip bomb?" in outcome and grown < 32


def test_a_member_inflating_past_its_declared_size_is_cut_off_there(files, model_path, bomb_stream):
    """The zip directory says 5.weight holds the 819,328 bytes it should, but its deflate stream
    holds 1.1 GiB: zipfile stops at the declared size, and the CRC then disagrees."""
    stream, crc, _ = bomb_stream
    path = files / "lying_size.npz"
    entries = [entry if entry[0] != "5.weight.npy" else
               ("5.weight.npy", stream, zipfile.ZIP_DEFLATED, crc, 128 + 1600 * 128 * 4)
               for entry in stored_entries(model_path)]
    write_zip_by_hand(path, entries)
    refused(path, "corrupt or truncated", "Bad CRC-32 for file '5.weight.npy'")
    grown, outcome = load_in_child(path)
    print(f"member inflating past its declared size: peak memory grew by {grown:.1f} MiB")
    assert "Bad CRC-32" in outcome and grown < 32


def test_thirty_million_filters_are_refused_before_anything_is_allocated(files, model_path):
    layers = record(model_path)
    layers["layers"][0]["config"]["out_channels"] = 30_000_000
    path = with_record(model_path, files / "30M_filters.npz", layers)
    refused(path, "layer 0 (Conv2D): bad configuration: out_channels must be a whole number from 1 "
            "to 4096, got 30000000")
    grown, outcome = load_in_child(path)
    print(f"30 million filters: peak memory grew by {grown:.1f} MiB while refusing it")
    assert "out_channels" in outcome and grown < 8


def test_the_plain_model_loads_in_little_memory(model_path):
    grown, outcome = load_in_child(model_path)
    print(f"the real model: peak memory grew by {grown:.1f} MiB while loading it")
    assert outcome == "loaded" and 0.5 < grown < 32  # its 0.9 MB of weights are measured


@pytest.mark.parametrize("layers, problem", [
    # Each layer within bounds, but far too many parameters together.
    ([("Conv2D", {"in_channels": 1, "out_channels": 4096, "kernel_size": 28, "activation": "relu"}),
      ("Flatten", {}), ("Dense", {"in_features": 4096, "out_features": 4096, "activation": "relu"}),
      ("Dense", {"in_features": 4096, "out_features": 10, "activation": None})],
     "the architecture has 20,037,642 parameters, more than the 10,000,000 accepted"),
    # Few parameters, but billions of multiply-adds per image.
    ([("Conv2D", {"in_channels": 1, "out_channels": 2048, "kernel_size": 1, "activation": "relu"}),
      ("Conv2D", {"in_channels": 2048, "out_channels": 2048, "kernel_size": 1, "activation": "relu"})]
     + [("MaxPool2D", {"pool_size": 2})] * 4
     + [("Flatten", {}), ("Dense", {"in_features": 2048, "out_features": 10, "activation": None})],
     "the architecture needs 3,289,960,448 multiply-adds per image, more than the 1,000,000,000"),
])
def test_networks_too_big_to_run_are_refused_from_their_record(files, model_path, layers, problem):
    changed = record(model_path)
    changed["layers"] = [{"type": kind, "config": config} for kind, config in layers]
    refused(with_record(model_path, files / "big.npz", changed), problem)


def test_an_npy_header_claiming_a_trillion_elements_is_refused_unread(files, model_path):
    path = craft(model_path, files / "trillion.npz", {"5.weight": npy_header((10**12,))})
    refused(path, "parameter 5.weight is float32 (1000000000000,), float32 (1600, 128) expected")


def test_a_member_declaring_more_bytes_than_its_array_needs_is_refused_unread(files, model_path):
    path = craft(model_path, files / "padded.npz", {"0.bias": npy(np.zeros(32, np.float32)) + bytes(MiB)})
    refused(path, "member '0.bias.npy' declares 1,048,832 bytes, but a float32 array of shape (32,) "
            "needs 128")


def test_a_header_saying_the_right_shape_over_too_little_data(files, model_path):
    path = craft(model_path, files / "short.npz", {"0.bias": npy_header((32,)) + bytes(12)})
    refused(path, "member '0.bias.npy' holds 12 bytes of data, its header needs 128")


# --- Files that are not model files at all ---

def test_a_bare_npy_file(files):
    path = files / "bare.npy"
    np.save(path, np.zeros((3, 3), np.float32))
    refused(path, "not a readable model file (corrupt or truncated?): File is not a zip file")


def test_an_npz_of_other_arrays(files):
    path = files / "other.npz"
    np.savez(path, weights=np.ones(3))
    refused(path, "not an nncore model file (it has no __model__ record)")


def test_an_archive_member_that_is_not_npy(files, model_path):
    path = files / "notes.npz"
    craft(model_path, path)
    with zipfile.ZipFile(path, "a") as archive:
        archive.writestr("notes.txt", "hello")
    refused(path, "unexpected archive member 'notes.txt'")


def test_pickles_are_never_loaded_nor_advised(files, model_path, tmp_path):
    marker = tmp_path / "pwned"

    class Exploit:
        def __reduce__(self):
            return (open, (str(marker), "w"))

    pickled = npy(np.array([Exploit()] * 32, dtype=object))
    refused(craft(model_path, files / "pickled_bias.npz", {"0.bias": pickled}),
            "parameter 0.bias is object (32,), float32 (32,) expected")
    pickled = npy(np.array(Exploit(), dtype=object))
    refused(craft(model_path, files / "pickled_record.npz", {"__model__": pickled}),
            "its __model__ member is not a text record")
    assert not marker.exists()
    # NumPy's error for an over-long header advises "allow_pickle=True"; it must not be passed on.
    long_header = npy_header(()).replace(b"}", b"}" + b" " * 20000)
    long_header = long_header[:8] + struct.pack("<H", len(long_header) - 10) + long_header[10:]
    refused(craft(model_path, files / "long_header.npz", {"__model__": long_header}),
            "member '__model__.npy' is not a valid .npy array (unreadable header)")


@pytest.mark.parametrize("method", [zipfile.ZIP_BZIP2, zipfile.ZIP_LZMA])
def test_compression_that_cannot_be_inflated_a_bounded_amount_at_a_time(files, model_path, method):
    path = files / "bzip2.npz"
    with zipfile.ZipFile(path, "w") as archive:
        for name, data in members(model_path).items():
            archive.writestr(name, data, method if name == "0.bias.npy" else zipfile.ZIP_STORED)
    refused(path, f"member '0.bias.npy' uses zip compression method {method}")


def test_a_member_stored_twice(files, model_path):
    path = files / "twice.npz"
    craft(model_path, path)
    with zipfile.ZipFile(path, "a") as archive, warnings.catch_warnings():
        warnings.simplefilter("ignore")  # zipfile warns about the duplicate name
        archive.writestr("0.bias.npy", npy(np.zeros(32, np.float32)))
    refused(path, "the archive holds member '0.bias.npy' twice")


def test_a_member_in_fortran_order(files, model_path):
    weight = np.asfortranarray(array(model_path, "5.weight"))
    refused(craft(model_path, files / "fortran.npz", {"5.weight": npy(weight)}),
            "member '5.weight.npy' is stored in Fortran order")


# --- Architecture records ---

def edited(model_path, files, edit) -> Path:
    changed = record(model_path)
    edit(changed)
    return with_record(model_path, files / "edited.npz", changed)


@pytest.mark.parametrize("key, value", [("out_channels", 0), ("out_channels", -3), ("kernel_size", 0),
                                        ("in_channels", True), ("kernel_size", 3.0), ("kernel_size", 29)])
def test_zero_negative_or_non_integer_layer_sizes(files, model_path, key, value):
    path = edited(model_path, files, lambda r: r["layers"][0]["config"].update({key: value}))
    refused(path, f"layer 0 (Conv2D): bad configuration: {key} must be a whole number from 1 to")


def test_zero_units_and_a_dropout_rate_of_one(files, model_path):
    refused(edited(model_path, files, lambda r: r["layers"][5]["config"].update(out_features=0)),
            "layer 5 (Dense): bad configuration: out_features must be a whole number from 1 to 4096, got 0")
    refused(edited(model_path, files, lambda r: r["layers"][6]["config"].update(rate=1)),
            "layer 6 (Dropout): bad configuration: rate must be a number from 0 up to, not including, 1")


def test_json_nested_100000_deep(files, model_path):
    text = json.dumps(record(model_path)).replace('"metadata": {', '"metadata": {"x": ' + "[" * 100_000
                                                   + "]" * 100_000 + ", ")
    refused(with_record(model_path, files / "deep.npz", text), "nests deeper than 32 levels")


def test_a_5000_digit_integer(files, model_path):
    text = json.dumps(record(model_path)).replace('"metadata": {', '"metadata": {"x": ' + "7" * 5000 + ", ")
    refused(with_record(model_path, files / "digits.npz", text), "holds a 5,000-digit integer")


def test_a_record_too_long(files, model_path):
    text = json.dumps(record(model_path)).replace('"metadata": {', '"metadata": {"x": "' + "a" * 300_000
                                                   + '", ')
    refused(with_record(model_path, files / "long.npz", text), "the __model__ record declares 1,2",
            "bytes, more than the 1,048,576 accepted")


def test_a_missing_metadata_key(files, model_path):
    refused(edited(model_path, files, lambda r: r.pop("metadata")),
            "malformed architecture record: it needs exactly the keys")


@pytest.mark.parametrize("edit, problem", [
    (lambda r: r["layers"][7]["config"].update(out_features=5),
     "the layers map a 28x28x1 image to shape (5,), not to the scores of the 10 digits"),
    (lambda r: r["layers"].pop(4),
     "layer 4 (Dense): 1600 input features cannot take an input of shape (5, 5, 64)"),
    (lambda r: r["layers"][5]["config"].update(in_features=1599),
     "layer 5 (Dense): 1599 input features cannot take an input of shape (1600,)"),
    (lambda r: r["layers"][2]["config"].update(in_channels=16),
     "layer 2 (Conv2D): a 3x3 convolution of 16 channel(s) cannot take an input of shape (13, 13, 32)"),
    (lambda r: r["layers"].insert(0, r["layers"][1]),  # pooling first: everything after is smaller
     "layer 6 (Dense): 1600 input features cannot take an input of shape (256,)"),
    (lambda r: r.update(layers=[]), "layers must be a list of 1 to 64"),
    (lambda r: r.update(version=True), "model format version True is not supported"),
    (lambda r: r["layers"][1].update(extra=1), "layer 1: malformed"),
])
def test_layers_that_do_not_map_an_image_to_ten_scores(files, model_path, edit, problem):
    refused(edited(model_path, files, edit), problem)


# --- Weights ---

def test_huge_finite_weights(files, model_path):
    weight = array(model_path, "7.weight")
    weight[0, 0] = 3e38
    refused(craft(model_path, files / "3e38.npz", {"7.weight": weight}),
            "parameter 7.weight holds a weight of magnitude 3e+38; trained weights are far smaller")


def test_weights_within_bounds_whose_output_overflows(files):
    model = Sequential(mnist_cnn(0).layers + [Dense(10, 10, activation="relu") for _ in range(3)])
    for _, param, _ in model.parameters():
        param[...] = 1e4
    path = files / "overflow.npz"
    save_model(path, model)
    refused(path, "the network's output is not finite for a blank or a random image")


def test_nan_weights(files, model_path):
    bias = array(model_path, "0.bias")
    bias[3] = np.inf
    refused(craft(model_path, files / "inf.npz", {"0.bias": bias}),
            "parameter 0.bias holds NaN or infinite values")


# --- The commands ---

@pytest.fixture(scope="module")
def crafted_models(files, model_path, bomb_stream):
    stream, crc, size = bomb_stream
    write_zip_by_hand(files / "cmd_bomb.npz", stored_entries(model_path)
                      + [("extra/m.npy", stream, zipfile.ZIP_DEFLATED, crc, size)])
    weight = array(model_path, "7.weight")
    weight[0, 0] = 3e38
    craft(model_path, files / "cmd_3e38.npz", {"7.weight": weight})
    np.save(files / "cmd_bare.npy", np.zeros(3))
    craft(model_path, files / "cmd_pickle.npz", {"0.bias": npy(np.array([None] * 32, dtype=object))})
    with_record(model_path, files / "cmd_deep.npz", "[" * 100_000 + "]" * 100_000)
    changed = record(model_path)
    changed["layers"][0]["config"]["out_channels"] = 30_000_000
    with_record(model_path, files / "cmd_30M.npz", changed)
    return files


@pytest.mark.parametrize("name", ["cmd_bomb.npz", "cmd_3e38.npz", "cmd_bare.npy", "cmd_pickle.npz",
                                  "cmd_deep.npz", "cmd_30M.npz"])
def test_evaluate_refuses_a_hostile_model_in_one_line_with_status_2(crafted_models, name):
    path = crafted_models / name
    result = subprocess.run([sys.executable, "evaluate.py", "--model", str(path), str(IMAGE)],
                            cwd=REPO, capture_output=True, text=True, timeout=120)
    assert result.returncode == 2, result.stderr
    assert result.stdout == ""
    lines = result.stderr.splitlines()
    assert len(lines) == 1 and lines[0].startswith(f"error: {path}: "), result.stderr
    assert "pickle" not in lines[0][len(f"error: {path}: "):]


# --- Random damage: a model, or a ModelFileError, never anything else ---

TOKENS = st.sampled_from(['"', "{", "}", "[", "]", ",", ":", "0", "-1", "1e999", "null", "true", "3.5",
                          '"Conv2D"', '"relu"', '"layers"', '"config"', "\\", "\\u0000", " ", "9" * 50])


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(edits=st.lists(st.tuples(st.floats(0, 1), st.integers(0, 8), st.lists(TOKENS, max_size=4)),
                      min_size=1, max_size=4))
def test_random_damage_to_the_record_gives_a_model_or_a_model_file_error(model_path, files, edits):
    text = json.dumps(record(model_path))
    for where, deleted, inserted in edits:
        at = int(where * len(text))
        text = text[:at] + "".join(inserted) + text[at + deleted:]
    path = with_record(model_path, files / "damaged.npz", text)
    try:
        model = load_model(path)
    except ModelFileError as error:
        assert "\n" not in str(error) and str(error).startswith(f"{path}: ")
    else:
        assert model.predict(np.zeros((1, 28, 28, 1), np.float32), reference=True).shape == (1, 10)


SCALARS = st.none() | st.booleans() | st.integers(-10**6, 10**6) | st.floats() | st.text(max_size=5)
JSON = st.recursive(SCALARS, lambda inner: st.lists(inner, max_size=3)
                    | st.dictionaries(st.text(max_size=5), inner, max_size=3), max_leaves=6)


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(layer=st.integers(0, 7), key=st.sampled_from(["type", "config", "in_channels", "out_channels",
                                                     "kernel_size", "in_features", "out_features", "rate",
                                                     "pool_size", "activation"]), value=JSON)
def test_any_value_in_any_layer_field_gives_a_model_or_a_model_file_error(model_path, files, layer, key,
                                                                          value):
    changed = record(model_path)
    spec = changed["layers"][layer]
    (spec if key in ("type", "config") else spec["config"])[key] = value
    path = with_record(model_path, files / "substituted.npz", json.dumps(changed))
    try:
        load_model(path)
    except ModelFileError as error:
        assert "\n" not in str(error) and str(error).startswith(f"{path}: ")


def test_the_shipped_model_loads_unchanged():
    path = REPO / "models" / "shipped" / "mnist_cnn.npz"
    model = load_model(path)
    assert model.num_params() == 225_034 and math.isclose(model.metadata["test_accuracy"], 0.995)
    for name, param, _ in model.parameters():
        assert np.array_equal(param, array(path, name)) and param.dtype == np.float32
