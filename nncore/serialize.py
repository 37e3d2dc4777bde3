"""Save and load models: weights in a `.npz`, architecture and metadata as JSON inside it.

A model file is a NumPy `.npz` archive (a zip of `.npy` files) holding
  - one array per parameter, named like "2.weight" (layer index, parameter name);
  - "__model__": a JSON string, {"format", "version", "dtype", "layers": [{"type", "config"}],
    "metadata": {...}} -- the architecture plus whatever the trainer records (accuracy, seed, ...);
  - optionally arrays named "extra/..." (a training checkpoint keeps optimiser state there).

Saving is atomic: a temporary file in the same directory, then a rename, so a crash mid-save
leaves the previous file intact.

Loading trusts nothing in the file: it never unpickles, builds layers only from the fixed table
`LAYER_TYPES`, and decides how much it may read before it reads it. In order:
  1. The file is a zip archive. Its "__model__" member, at most MAX_RECORD_BYTES as the zip
     directory declares it, is read first and checked by nncore/model_file_checks.py: bounded
     JSON, every field's type and range, and layers that map a 28x28x1 image to 10 scores. That
     gives the shape and dtype of every parameter, and bounds their number.
  2. Every member, from the zip directory alone: its name is expected (a parameter, "__model__",
     or an "extra/" array the caller asked for; the extras nobody asked for are skipped unread,
     their declared sizes together capped); its declared size is at most what its array needs
     plus a header; it is stored or deflated (zlib can inflate a bounded amount at a time).
  3. Every expected member's .npy header: exactly the expected shape and dtype, C order. Only
     then are its data bytes read, exactly as many as that shape needs; the zip CRC is checked.
  4. The weights are finite and at most MAX_WEIGHT in magnitude, and the network (built only
     now) gives finite scores for a blank and a random image, computed in plain NumPy.
Anything wrong raises `ModelFileError` with a one-line message naming the file and the problem.
"""
import json
import math
import os
import struct
import tempfile
import warnings
import zipfile
import zlib
from contextlib import contextmanager
from pathlib import Path

import numpy as np

from nncore.layers import Conv2D, Dense, Dropout, Flatten, MaxPool2D, ReLU
from nncore.loss import log_softmax_reference
from nncore.model import Sequential
from nncore.model_file_checks import (
    FORMAT,
    INPUT_SHAPE,
    VERSION,
    Architecture,
    Invalid,
    check_record,
    parse_record,
    shown,
)

LAYER_TYPES = {cls.__name__: cls for cls in (Conv2D, MaxPool2D, ReLU, Flatten, Dense, Dropout)}
EXTRA_PREFIX = "extra/"
RECORD_MEMBER = "__model__.npy"
MAX_RECORD_BYTES = 1024 * 1024   # the "__model__" member; the shipped model's is 7 KB
MAX_NPY_HEADER = 4096            # bytes before an array's data; NumPy writes 128
SKIPPED_EXTRAS_ALLOWANCE = 3     # unread extras may declare 3 x the parameters' bytes (+ 1 MiB):
                                 # room for an optimiser's state, not for a zip bomb
MAX_WEIGHT = 1e4                 # trained weights are of order 1
# What a damaged archive raises while it is read (the zip layer's messages are safe to show).
READ_ERRORS = (OSError, EOFError, ValueError, RuntimeError, NotImplementedError, zipfile.BadZipFile,
               zlib.error, struct.error, OverflowError)


class ModelFileError(Exception):
    """A model file that is missing, corrupt, truncated or does not match its architecture."""


def save_model(path, model: Sequential, metadata: dict | None = None,
               extra_arrays: dict[str, np.ndarray] | None = None) -> None:
    path = Path(path)
    params = {name: param for name, param, _ in model.parameters()}
    header = {
        "format": FORMAT, "version": VERSION,
        "dtype": str(next(iter(params.values())).dtype),
        "layers": [{"type": type(layer).__name__, "config": layer.config()} for layer in model.layers],
        "metadata": metadata or {},
    }
    arrays = dict(params)
    arrays["__model__"] = np.array(json.dumps(header))
    arrays.update({EXTRA_PREFIX + key: np.asarray(a) for key, a in (extra_arrays or {}).items()})
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp_name = tempfile.mkstemp(prefix=path.name + ".", suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(fd, "wb") as f:
            np.savez(f, **arrays)
            f.flush()
            os.fsync(f.fileno())
        umask = os.umask(0)
        os.umask(umask)
        os.chmod(tmp_name, 0o666 & ~umask)  # mkstemp makes it private; give it a normal file's mode
        os.replace(tmp_name, path)
    except BaseException:
        os.unlink(tmp_name)
        raise


def read_model_header(path) -> Architecture:
    """Step 1 alone: the checked architecture and metadata of the model file at `path`."""
    with _archive(path) as archive:
        return _read_record(archive)


def read_model_file(path, extras: dict | None = None) -> tuple[Sequential, dict, dict[str, np.ndarray]]:
    """-> (model, metadata, extra arrays). Raises ModelFileError for any problem.

    `extras` says which "extra/" arrays to read: {name: (shape, dtype)}, every one required and
    no other allowed. With None (a plain model), extra arrays are skipped without being read.
    """
    if extras is not None:
        extras = {name: (tuple(shape), np.dtype(dtype)) for name, (shape, dtype) in extras.items()}
    with _archive(path) as archive:
        architecture = _read_record(archive)
        expected = {name + ".npy": spec for name, spec in architecture.parameters.items()}
        expected.update({EXTRA_PREFIX + name + ".npy": spec for name, spec in (extras or {}).items()})
        _check_members(archive, expected, architecture, skip_extras=extras is None)
        arrays = {name[:-len(".npy")]: _read_array(archive, name, *spec) for name, spec in expected.items()}
    for name in architecture.parameters:
        _check_weights(path, name, arrays[name])
    model = _build(architecture)
    for name, param, _ in model.parameters():
        param[...] = arrays[name]
    _check_output(path, model)
    extra = {name[len(EXTRA_PREFIX):]: a for name, a in arrays.items() if name.startswith(EXTRA_PREFIX)}
    return model, architecture.metadata, extra


def load_model(path) -> Sequential:
    """The model stored in `path`, ready for inference; its metadata is in `model.metadata`."""
    model, metadata, _ = read_model_file(path)
    model.metadata = metadata
    model.eval()
    return model


@contextmanager
def _archive(path):
    """The zip archive at `path`; every failure while reading it becomes a ModelFileError."""
    path = Path(path)
    if not path.is_file():
        raise ModelFileError(f"{path}: model file not found")
    try:
        with zipfile.ZipFile(path) as archive:
            yield archive
    except Invalid as e:
        raise ModelFileError(f"{path}: {e}") from None
    except READ_ERRORS as e:
        reason = " ".join(str(e).split())[:160]
        raise ModelFileError(f"{path}: not a readable model file (corrupt or truncated?): {reason}") from None


def _read_record(archive) -> Architecture:
    info = archive.NameToInfo.get(RECORD_MEMBER)
    if info is None:
        raise Invalid("not an nncore model file (it has no __model__ record)")
    if info.file_size > MAX_RECORD_BYTES:
        raise Invalid(f"the __model__ record declares {info.file_size:,} bytes, more than the "
                      f"{MAX_RECORD_BYTES:,} accepted")
    with _open(archive, info) as f:
        shape, dtype = _npy_header(f, RECORD_MEMBER)
        if shape != () or dtype.kind != "U" or dtype.itemsize == 0:
            raise Invalid("not an nncore model file (its __model__ member is not a text record)")
        text = str(np.frombuffer(_data(f, info, dtype.itemsize), dtype)[0])
    return check_record(parse_record(text))


def _check_members(archive, expected: dict, architecture, skip_extras: bool) -> None:
    """Step 2: names, declared sizes and compression of every member, from the zip directory."""
    seen, skipped_bytes = set(), 0
    for info in archive.infolist():
        name = info.filename
        if name in seen:
            raise Invalid(f"the archive holds member {shown(name)} twice")
        seen.add(name)
        if name in expected:
            shape, dtype = expected[name]
            if info.file_size > math.prod(shape) * dtype.itemsize + MAX_NPY_HEADER:
                raise Invalid(f"member {shown(name)} declares {info.file_size:,} bytes, but a {dtype} "
                              f"array of shape {shape} needs {math.prod(shape) * dtype.itemsize:,}")
        elif skip_extras and name.startswith(EXTRA_PREFIX) and name.endswith(".npy"):
            skipped_bytes += info.file_size
        elif name != RECORD_MEMBER:
            raise Invalid(f"unexpected archive member {shown(name)} (a model file holds only its "
                          "parameters, __model__ and the extra arrays asked for)")
    missing = sorted(name[:-len(".npy")] for name in expected.keys() - seen)
    if missing:
        raise Invalid(f"the archive is missing {shown(missing, 200)}")
    parameter_bytes = sum(math.prod(s) * d.itemsize for s, d in architecture.parameters.values())
    allowance = SKIPPED_EXTRAS_ALLOWANCE * parameter_bytes + 1024 * 1024
    if skipped_bytes > allowance:
        raise Invalid(f"its extra arrays declare {skipped_bytes:,} bytes, more than the "
                      f"{allowance:,} an optimiser's state for this model could take (a zip bomb?)")


def _read_array(archive, name, shape, dtype) -> np.ndarray:
    """Step 3: the member's header must say (shape, dtype); then exactly its data is read."""
    info = archive.getinfo(name)
    with _open(archive, info) as f:
        stored = _npy_header(f, name)
        if stored != (shape, dtype):
            raise Invalid(f"{_role(name)} is {stored[1]} {shown(stored[0])}, {dtype} {shape} expected")
        data = _data(f, info, math.prod(shape) * dtype.itemsize)
    return np.frombuffer(bytearray(data), dtype).reshape(shape)


def _role(name) -> str:
    """What the member "5.weight.npy" or "extra/t.npy" holds, in words."""
    name = name[:-len(".npy")]
    return f"extra array {name[len(EXTRA_PREFIX):]}" if name.startswith(EXTRA_PREFIX) else f"parameter {name}"


def _open(archive, info):
    if info.compress_type not in (zipfile.ZIP_STORED, zipfile.ZIP_DEFLATED):
        raise Invalid(f"member {shown(info.filename)} uses zip compression method "
                      f"{info.compress_type}; only stored and deflated members are read")
    return archive.open(info)


def _npy_header(f, name) -> tuple[tuple, np.dtype]:
    """(shape, dtype) from a .npy header, read from the member's stream; nothing allocated."""
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # NumPy warns about headers written by Python 2
            version = np.lib.format.read_magic(f)
            if version == (1, 0):
                shape, fortran_order, dtype = np.lib.format.read_array_header_1_0(f)
            elif version == (2, 0):
                shape, fortran_order, dtype = np.lib.format.read_array_header_2_0(f)
            else:
                raise Invalid(f"member {shown(name)}: .npy format version {version} is not supported")
    except (ValueError, TypeError, SyntaxError, RecursionError):
        # NumPy's own messages may advise loading the file with allow_pickle: never shown.
        raise Invalid(f"member {shown(name)} is not a valid .npy array (unreadable header)") from None
    if fortran_order:
        raise Invalid(f"member {shown(name)} is stored in Fortran order; only C order is read")
    return shape, dtype


def _data(f, info, nbytes) -> bytes:
    """Exactly the `nbytes` after the header, which must be all the member holds."""
    if info.file_size - f.tell() != nbytes:
        raise Invalid(f"member {shown(info.filename)} holds {info.file_size - f.tell():,} bytes of "
                      f"data, its header needs {nbytes:,}")
    data = f.read(nbytes)
    if len(data) != nbytes or f.read(1):
        raise Invalid(f"member {shown(info.filename)} is truncated")
    return data


def _check_weights(path, name, value) -> None:
    if not np.all(np.isfinite(value)):
        raise ModelFileError(f"{path}: parameter {name} holds NaN or infinite values")
    largest = float(np.max(np.abs(value), initial=0))
    if largest > MAX_WEIGHT:
        raise ModelFileError(f"{path}: parameter {name} holds a weight of magnitude {largest:.3g}; "
                             f"trained weights are far smaller (at most {MAX_WEIGHT:g} is accepted)")


def _build(architecture) -> Sequential:
    layers = []
    for kind, config in architecture.layers:
        cls = LAYER_TYPES[kind]
        if cls in (Conv2D, Dense):
            config = dict(config, initialise=False, dtype=architecture.dtype)   # loaded next
        layers.append(cls(**config))
    return Sequential(layers)


def _check_output(path, model) -> None:
    """Step 4's last check: finite weights can still overflow; try a blank and a random image
    (levels scattered over [0, 1): the fractional parts of k times the golden ratio, which need
    no numpy.random)."""
    scattered = (np.arange(np.prod(INPUT_SHAPE)) * 0.6180339887498949) % 1.0
    images = np.stack([np.zeros(INPUT_SHAPE, np.float32), scattered.reshape(INPUT_SHAPE).astype(np.float32)])
    with np.errstate(all="ignore"):
        logits = model.reference_forward(images)
        probabilities = np.exp(log_softmax_reference(logits))
    if not (np.all(np.isfinite(logits)) and np.all(np.isfinite(probabilities))):
        raise ModelFileError(f"{path}: the network's output is not finite for a blank or a random "
                             "image (its weights make the arithmetic overflow)")
