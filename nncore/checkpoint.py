"""Training checkpoints: everything needed to continue a run exactly where it stopped.

A checkpoint is an ordinary model file (see nncore/serialize.py), so it is written atomically
and `evaluate.py` can even read it. On top of the weights it holds
  - the optimiser's state (Adam's moments m, v and step count t), as arrays "optimizer/...";
  - the state of every layer's random generator (the Dropout masks), as JSON;
  - the trainer's own progress (epoch, batch, metrics so far, flags), as JSON.

Restoring all three makes the next training step compute exactly the numbers it would have
computed without the interruption, so a resumed run ends with bit-identical weights.

    save_checkpoint(path, model, optimizer, {"epoch": 3, "batch": 120, ...})
    progress = load_checkpoint(path, model, optimizer)    # restores model and optimizer in place
"""
from nncore.serialize import ModelFileError, read_model_file, save_model

OPTIMIZER_PREFIX = "optimizer/"


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


def load_checkpoint(path, model, optimizer) -> dict:
    """Restore `model` and `optimizer` in place from `path`; return the saved progress.

    Raises ModelFileError if the file is not a checkpoint or was made for another
    architecture or optimiser.
    """
    saved, metadata, extra = read_model_file(path)
    record = metadata.get("checkpoint")
    if not isinstance(record, dict):
        raise ModelFileError(f"{path}: a model file, but not a training checkpoint")
    if _architecture(saved) != _architecture(model):
        raise ModelFileError(f"{path}: the checkpoint's architecture differs from this model's")
    if record.get("optimizer") != type(optimizer).__name__:
        raise ModelFileError(f"{path}: the checkpoint was made with the {record.get('optimizer')} "
                             f"optimizer, not {type(optimizer).__name__}")
    for (_, param, _), (_, value, _) in zip(model.parameters(), saved.parameters()):
        param[...] = value
    try:
        optimizer.load_state({key[len(OPTIMIZER_PREFIX):]: a for key, a in extra.items()
                              if key.startswith(OPTIMIZER_PREFIX)})
        for k, state in record["rng_states"].items():
            model.layers[int(k)].rng.bit_generator.state = state
        return record["progress"]
    except (KeyError, ValueError, TypeError, IndexError, AttributeError) as e:
        raise ModelFileError(f"{path}: malformed checkpoint record: {e!r}") from None


def _architecture(model) -> list:
    return [(type(layer).__name__, layer.config()) for layer in model.layers]
