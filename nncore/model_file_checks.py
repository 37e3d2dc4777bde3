"""The checks a model file's architecture record passes before anything is allocated.

The record (the archive's "__model__" member, see nncore/serialize.py) is untrusted JSON. It is
checked in this order, each step relying on the ones before it:
  1. its length (at most MAX_RECORD_CHARS) and its nesting depth (at most MAX_DEPTH, counted by a
     scan of the brackets before json.loads, which recurses, ever sees it), and no integer longer
     than MAX_INT_DIGITS digits (Python refuses to parse very long ones anyway, with an error);
  2. its fields: exactly "format", "version", "dtype", "layers" (1 to MAX_LAYERS) and "metadata"
     (an object), each of the right type and value;
  3. every layer: a known type, exactly that type's configuration keys, each value of the right
     type and within range (CONFIGS below);
  4. shape propagation: starting from one (28, 28, 1) image, each layer must accept the shape the
     one before it produces, and the last must produce (10,), the scores of the ten digits. This
     gives every parameter's shape with nothing allocated, so the parameter count and the
     multiply-adds per image are bounded before the model is built.
A broken rule raises `Invalid`, whose message the loader prefixes with the file's path.
"""
import json
import math
from typing import NamedTuple

import numpy as np

FORMAT, VERSION = "nncore-model", 1
INPUT_SHAPE, OUTPUT_SHAPE = (28, 28, 1), (10,)
MAX_RECORD_CHARS = 256 * 1024  # the JSON text; the member holds 4 bytes a character: 1 MiB
MAX_DEPTH = 32                 # nesting of [ and {; a real record has 6
MAX_INT_DIGITS = 40            # a random generator's 128-bit state has 39
MAX_LAYERS = 64
MAX_WIDTH = 4096               # filters of a Conv2D, units of a Dense
MAX_KERNEL = 28                # the input image's size
MAX_FEATURES = 28 * 28 * MAX_WIDTH  # the most a Flatten can produce
MAX_PARAMETERS = 10_000_000    # 44 times the MNIST CNN's 225,034
MAX_MULTIPLY_ADDS = 10**9      # per image; the MNIST CNN needs 2.6 million


class Invalid(Exception):
    """A model file breaks a rule; the message says which (the loader adds the file's path)."""


class Architecture(NamedTuple):
    dtype: np.dtype
    layers: list            # [(type name, config dict)], as checked
    parameters: dict        # {"2.weight": (shape, dtype)}, in the order the model holds them
    metadata: dict


def shown(value, limit=60) -> str:
    """repr(value), cut to `limit` characters: untrusted text shown in one short line."""
    text = repr(value)
    return text if len(text) <= limit else text[:limit - 3] + "..."


def parse_record(text: str):
    """The JSON value of the record, after checking its length and nesting depth."""
    if len(text) > MAX_RECORD_CHARS:
        raise Invalid(f"the architecture record is {len(text):,} characters long, more than "
                      f"the {MAX_RECORD_CHARS:,} accepted")
    depth, in_string, escaped = 0, False, False
    for char in text:
        if in_string:
            if escaped:
                escaped = False
            elif char == "\\":
                escaped = True
            elif char == '"':
                in_string = False
        elif char == '"':
            in_string = True
        elif char in "[{":
            depth += 1
            if depth > MAX_DEPTH:
                raise Invalid(f"the architecture record nests deeper than {MAX_DEPTH} levels")
        elif char in "]}":
            depth -= 1
    try:
        return json.loads(text, parse_int=_bounded_int)
    except (ValueError, RecursionError) as e:  # json.JSONDecodeError is a ValueError
        raise Invalid(f"the architecture record is not valid JSON: {' '.join(str(e).split())[:120]}"
                      ) from None


def _bounded_int(digits: str) -> int:
    if len(digits.lstrip("-")) > MAX_INT_DIGITS:
        raise Invalid(f"the architecture record holds a {len(digits):,}-digit integer "
                      f"(at most {MAX_INT_DIGITS} digits are accepted)")
    return int(digits)


def whole_number(upper):
    return f"a whole number from 1 to {upper}", lambda v: type(v) is int and 1 <= v <= upper


ACTIVATION = "None or 'relu'", lambda v: v is None or v == "relu"
# For each layer type: its configuration keys, each with (the rule in words, the test).
CONFIGS = {
    "Conv2D": {"in_channels": whole_number(MAX_WIDTH), "out_channels": whole_number(MAX_WIDTH),
               "kernel_size": whole_number(MAX_KERNEL), "activation": ACTIVATION},
    "MaxPool2D": {"pool_size": ("2", lambda v: type(v) is int and v == 2)},
    "ReLU": {},
    "Flatten": {},
    "Dense": {"in_features": whole_number(MAX_FEATURES), "out_features": whole_number(MAX_WIDTH),
              "activation": ACTIVATION},
    "Dropout": {"rate": ("a number from 0 up to, not including, 1",
                         lambda v: type(v) in (int, float) and 0 <= v < 1)},
}
RECORD_KEYS = ("format", "version", "dtype", "layers", "metadata")


def check_record(record) -> Architecture:
    """Steps 2 to 4 on the parsed record: -> its architecture, every parameter's shape known."""
    if not isinstance(record, dict) or record.get("format") != FORMAT:
        raise Invalid("not an nncore model file (its record does not say format 'nncore-model')")
    if set(record) != set(RECORD_KEYS):
        raise Invalid(f"malformed architecture record: it needs exactly the keys {list(RECORD_KEYS)}"
                      f", has {shown(sorted(record))}")
    version = record["version"]
    if type(version) is not int or version != VERSION:
        raise Invalid(f"model format version {shown(version)} is not supported "
                      f"(this code reads version {VERSION})")
    if record["dtype"] not in ("float32", "float64"):
        raise Invalid(f"unsupported parameter dtype {shown(record['dtype'])}")
    if not isinstance(record["metadata"], dict):
        raise Invalid("malformed architecture record: metadata is not an object")
    specs = record["layers"]
    if not isinstance(specs, list) or not 1 <= len(specs) <= MAX_LAYERS:
        raise Invalid(f"malformed architecture record: layers must be a list of 1 to {MAX_LAYERS}")
    layers = [check_layer(k, spec) for k, spec in enumerate(specs)]
    dtype = np.dtype(record["dtype"])
    return Architecture(dtype, layers, parameter_shapes(layers, dtype), record["metadata"])


def check_layer(k, spec) -> tuple[str, dict]:
    if not isinstance(spec, dict) or set(spec) != {"type", "config"}:
        raise Invalid(f"layer {k}: malformed: it needs exactly the keys 'type' and 'config'")
    kind, config = spec["type"], spec["config"]
    if not isinstance(kind, str) or kind not in CONFIGS:
        raise Invalid(f"layer {k}: unknown layer type {shown(kind)}")
    rules = CONFIGS[kind]
    if not isinstance(config, dict) or set(config) != set(rules):
        raise Invalid(f"layer {k} ({kind}): bad configuration: it needs exactly the keys "
                      f"{sorted(rules)}, has {shown(sorted(config) if isinstance(config, dict) else config)}")
    for key, (rule, test) in rules.items():
        if not test(config[key]):
            raise Invalid(f"layer {k} ({kind}): bad configuration: {key} must be {rule}, "
                          f"got {shown(config[key])}")
    return kind, config


def parameter_shapes(layers, dtype) -> dict:
    """Step 4: follow one image's shape through the layers; -> {name: (shape, dtype)}."""
    shape, shapes, multiply_adds = INPUT_SHAPE, {}, 0
    for k, (kind, config) in enumerate(layers):
        where = f"layer {k} ({kind})"
        if kind == "Conv2D":
            size, channels, filters = config["kernel_size"], config["in_channels"], config["out_channels"]
            if len(shape) != 3 or shape[2] != channels or min(shape[:2]) < size:
                raise Invalid(f"{where}: a {size}x{size} convolution of {channels} channel(s) "
                              f"cannot take an input of shape {shape}")
            shape = (shape[0] - size + 1, shape[1] - size + 1, filters)
            shapes[f"{k}.weight"], shapes[f"{k}.bias"] = (size, size, channels, filters), (filters,)
            multiply_adds += shape[0] * shape[1] * size * size * channels * filters
        elif kind == "MaxPool2D":
            if len(shape) != 3 or min(shape[:2]) < 2:
                raise Invalid(f"{where}: 2x2 pooling cannot take an input of shape {shape}")
            shape = (shape[0] // 2, shape[1] // 2, shape[2])
        elif kind == "Flatten":
            shape = (math.prod(shape),)
        elif kind == "Dense":
            features, units = config["in_features"], config["out_features"]
            if shape != (features,):
                raise Invalid(f"{where}: {features} input features cannot take an input of shape {shape}")
            shape = (units,)
            shapes[f"{k}.weight"], shapes[f"{k}.bias"] = (features, units), (units,)
            multiply_adds += features * units
        # ReLU and Dropout keep the shape.
    if shape != OUTPUT_SHAPE:
        raise Invalid(f"the layers map a 28x28x1 image to shape {shape}, not to the scores of the "
                      "10 digits")
    count = sum(math.prod(s) for s in shapes.values())
    if count > MAX_PARAMETERS:
        raise Invalid(f"the architecture has {count:,} parameters, more than the "
                      f"{MAX_PARAMETERS:,} accepted")
    if multiply_adds > MAX_MULTIPLY_ADDS:
        raise Invalid(f"the architecture needs {multiply_adds:,} multiply-adds per image, more "
                      f"than the {MAX_MULTIPLY_ADDS:,} accepted")
    return {name: (s, dtype) for name, s in shapes.items()}
