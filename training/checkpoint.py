"""Training checkpoints: everything needed to continue a run exactly where it stopped.

A checkpoint is an ordinary model file (see nncore/serialize.py), so it is written atomically
and `evaluate.py` can even read it (as a plain model, which skips the extra arrays unread). On
top of the weights it holds
  - the optimiser's state (Adam's moments m, v and step count t), as arrays "optimizer/...";
  - the state of every layer's random generator (the Dropout masks), as JSON;
  - the trainer's own progress (epoch, batch, metrics so far, flags), as JSON.

Restoring all three makes the next training step compute exactly the numbers it would have
computed without the interruption, so a resumed run ends with bit-identical weights.

    save_checkpoint(path, model, optimizer, {"epoch": 3, "batch": 120, ...})
    progress = load_checkpoint(path, model, optimizer)    # restores model and optimizer in place

Loading checks, in order: the record (a checkpoint made for this architecture, dtype and
optimiser; a valid PCG64 state for each layer that has a generator); then the arrays, each
optimiser array required with exactly its parameter's shape and dtype, read by the model file
loader; then the optimiser's own `load_state` checks them again. Only when everything passed
are the model, the optimiser and the generators changed. The trainer checks `progress` itself.
"""
import numpy as np

from nncore.model_file_checks import shown
from nncore.optim import parameter_layout
from nncore.serialize import ModelFileError, read_model_file, read_model_header, save_model

OPTIMIZER_PREFIX = "optimizer/"
RECORD_KEYS = {"optimizer", "rng_states", "progress"}


def save_checkpoint(path, model, optimizer, progress: dict) -> None:
    """Write model, optimizer and layer-RNG state plus the JSON-able `progress` to `path`."""
    record = {
        "optimizer": type(optimizer).__name__,
        "rng_states": {str(k): layer.rng.bit_generator.state
                       for k, layer in enumerate(model.layers) if hasattr(layer, "rng")},
        "progress": progress,
    }
    arrays = {OPTIMIZER_PREFIX + key: a for key, a in optimizer.state().items()}
    save_model(path, model, metadata={"checkpoint": record}, extra_arrays=arrays)


def load_checkpoint(path, model, optimizer):
    """Restore `model` and `optimizer` in place from `path`; return the saved progress.

    Raises ModelFileError if the file is not a checkpoint, was made for another architecture
    or optimiser, or holds anything malformed.
    """
    architecture = read_model_header(path)
    record = architecture.metadata.get("checkpoint")
    if not isinstance(record, dict):
        raise ModelFileError(f"{path}: a model file, but not a training checkpoint")
    if set(record) != RECORD_KEYS:
        raise ModelFileError(f"{path}: malformed checkpoint record: it needs exactly the keys "
                             f"{sorted(RECORD_KEYS)}, has {shown(sorted(record))}")
    if architecture.layers != _architecture(model) or architecture.parameters != parameter_layout(model):
        raise ModelFileError(f"{path}: the checkpoint's architecture differs from this model's")
    if record["optimizer"] != type(optimizer).__name__:
        raise ModelFileError(f"{path}: the checkpoint was made with the {shown(record['optimizer'])} "
                             f"optimizer, not {type(optimizer).__name__}")
    rng_states = _checked_rng_states(path, record["rng_states"], model)

    layout = optimizer.state_layout(parameter_layout(model))
    saved, _, extra = read_model_file(path, extras={OPTIMIZER_PREFIX + key: spec
                                                    for key, spec in layout.items()})
    try:
        optimizer.load_state({key[len(OPTIMIZER_PREFIX):]: a for key, a in extra.items()}, model)
    except ValueError as e:
        raise ModelFileError(f"{path}: malformed optimizer state: {e}") from None
    for (_, param, _), (_, value, _) in zip(model.parameters(), saved.parameters()):
        param[...] = value
    for k, state in rng_states.items():
        model.layers[k].rng.bit_generator.state = state
    return record["progress"]


def _checked_rng_states(path, states, model) -> dict:
    """{layer index: state}, each a valid PCG64 state, for exactly the layers with a generator."""
    expected = {str(k): k for k, layer in enumerate(model.layers) if hasattr(layer, "rng")}
    if not isinstance(states, dict) or set(states) != set(expected):
        raise ModelFileError(f"{path}: malformed checkpoint record: it needs random-generator states "
                             f"for layers {sorted(expected)}, has {shown(states)}")
    for key, state in states.items():
        try:
            if not _is_pcg64_state(state):
                raise ValueError
            np.random.PCG64().state = state  # what NumPy itself accepts
        except (TypeError, ValueError, KeyError, OverflowError):
            raise ModelFileError(f"{path}: malformed checkpoint record: layer {key}'s random-generator "
                                 f"state is not a PCG64 state: {shown(state)}") from None
    return {expected[key]: state for key, state in states.items()}


def _is_pcg64_state(state) -> bool:
    """{"bit_generator": "PCG64", "state": {"state": s, "inc": i}, "has_uint32": 0 or 1,
    "uinteger": u}, s and i 128-bit and u 32-bit unsigned integers."""
    def below(value, bound):
        return type(value) is int and 0 <= value < bound
    return (isinstance(state, dict) and set(state) == {"bit_generator", "state", "has_uint32", "uinteger"}
            and state["bit_generator"] == "PCG64" and isinstance(state["state"], dict)
            and set(state["state"]) == {"state", "inc"}
            and below(state["state"]["state"], 2**128) and below(state["state"]["inc"], 2**128)
            and below(state["has_uint32"], 2) and below(state["uinteger"], 2**32))


def _architecture(model) -> list:
    return [(type(layer).__name__, layer.config()) for layer in model.layers]
