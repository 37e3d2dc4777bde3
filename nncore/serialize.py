"""Save and load models: weights in a `.npz`, architecture and metadata as JSON inside it.

A model file is a NumPy `.npz` archive holding
  - one array per parameter, named like "2.weight" (layer index, parameter name);
  - "__model__": a JSON string, {"format", "version", "dtype", "layers": [{"type", "config"}],
    "metadata": {...}} -- the architecture plus whatever the trainer records (accuracy, seed, ...);
  - optionally arrays named "extra/..." (a training checkpoint keeps optimiser state there).

Loading uses `allow_pickle=False` and builds layers only from the fixed table `LAYER_TYPES`, so
opening a model file can never execute code. Every parameter's name, shape and dtype is checked
against the architecture; anything wrong raises `ModelFileError` with a message that says what.
Saving is atomic: a temporary file in the same directory, then a rename, so a crash mid-save
leaves the previous file intact.
"""
import json
import os
import tempfile
import zipfile
from pathlib import Path

import numpy as np

from nncore.layers import Conv2D, Dense, Dropout, Flatten, MaxPool2D, ReLU
from nncore.model import Sequential

FORMAT, VERSION = "nncore-model", 1
LAYER_TYPES = {cls.__name__: cls for cls in (Conv2D, MaxPool2D, ReLU, Flatten, Dense, Dropout)}
EXTRA_PREFIX = "extra/"


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


def read_model_file(path) -> tuple[Sequential, dict, dict[str, np.ndarray]]:
    """-> (model, metadata, extra arrays). Raises ModelFileError for any problem."""
    path = Path(path)
    if not path.is_file():
        raise ModelFileError(f"{path}: model file not found")
    try:
        with np.load(path, allow_pickle=False) as archive:
            arrays = {name: archive[name] for name in archive.files}
    except (OSError, ValueError, EOFError, zipfile.BadZipFile, KeyError) as e:
        raise ModelFileError(f"{path}: not a readable model file (corrupt or truncated?): {e}") from None
    header = _read_header(path, arrays.pop("__model__", None))
    model = _build(path, header)
    dtype = np.dtype(header["dtype"])
    expected = {name: param for name, param, _ in model.parameters()}
    stored = {name for name in arrays if not name.startswith(EXTRA_PREFIX)}
    if stored != set(expected):
        raise ModelFileError(f"{path}: parameters do not match the architecture: missing "
                             f"{sorted(set(expected) - stored)}, unexpected {sorted(stored - set(expected))}")
    for name, param in expected.items():
        value = arrays[name]
        if value.shape != param.shape or value.dtype != dtype:
            raise ModelFileError(f"{path}: parameter {name} is {value.dtype} {value.shape}, "
                                 f"the architecture needs {dtype} {param.shape}")
        if not np.all(np.isfinite(value)):
            raise ModelFileError(f"{path}: parameter {name} holds NaN or infinite values")
        param[...] = value
    extra = {name[len(EXTRA_PREFIX):]: a for name, a in arrays.items() if name.startswith(EXTRA_PREFIX)}
    return model, header["metadata"], extra


def load_model(path) -> Sequential:
    """The model stored in `path`, ready for inference; its metadata is in `model.metadata`."""
    model, metadata, _ = read_model_file(path)
    model.metadata = metadata
    model.eval()
    return model


def _read_header(path, raw) -> dict:
    if raw is None or raw.dtype.kind != "U" or raw.ndim != 0:
        raise ModelFileError(f"{path}: not an nncore model file (no architecture record)")
    try:
        header = json.loads(str(raw))
    except json.JSONDecodeError as e:
        raise ModelFileError(f"{path}: the architecture record is not valid JSON: {e}") from None
    if not isinstance(header, dict) or header.get("format") != FORMAT:
        raise ModelFileError(f"{path}: not an nncore model file")
    if header.get("version") != VERSION:
        raise ModelFileError(f"{path}: model format version {header.get('version')} is not supported "
                             f"(this code reads version {VERSION})")
    if header.get("dtype") not in ("float32", "float64"):
        raise ModelFileError(f"{path}: unsupported parameter dtype {header.get('dtype')!r}")
    if not isinstance(header.get("layers"), list) or not isinstance(header.get("metadata", {}), dict):
        raise ModelFileError(f"{path}: malformed architecture record")
    return header


def _build(path, header) -> Sequential:
    dtype = np.dtype(header["dtype"])
    layers = []
    for k, spec in enumerate(header["layers"]):
        kind = spec.get("type") if isinstance(spec, dict) else None
        config = spec.get("config", {}) if isinstance(spec, dict) else None
        if kind not in LAYER_TYPES or not isinstance(config, dict):
            raise ModelFileError(f"{path}: layer {k}: unknown layer type {kind!r}")
        if not all(v is None or isinstance(v, (int, float, str)) for v in config.values()):
            raise ModelFileError(f"{path}: layer {k} ({kind}): configuration values must be numbers, "
                                 "strings or null")
        cls = LAYER_TYPES[kind]
        if cls in (Conv2D, Dense):
            config = dict(config, rng=np.random.default_rng(0), dtype=dtype)
        try:
            layers.append(cls(**config))
        except (TypeError, ValueError) as e:
            raise ModelFileError(f"{path}: layer {k} ({kind}): bad configuration: {e}") from None
    return Sequential(layers)
