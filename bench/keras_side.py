"""The other yardstick: the same model, data, batch and optimiser in TensorFlow / Keras 3, on the CPU.

`build_model()` is the seed project's Keras model layer for layer: Keras, like ours, writes each
ReLU as the `activation` of a Conv2D or Dense, is NHWC, and stores a convolution's kernel as
(KH, KW, C, F) and a dense layer's as (I, O), so layer k here is our layer k and our weights
load in unchanged (`copy_weights`). Its default initialisation is ours too (Glorot-uniform
kernels, zero biases), and Adam gets our settings (lr 1e-3, betas 0.9/0.999, eps 1e-7). The one
difference: its last layer applies the softmax, ours leaves it to the loss.

A training step is `model.train_on_batch`: Keras' compiled train function (a tf.function; Keras
turns XLA off on a CPU-only machine), the very function `model.fit` calls per batch, and it
returns the loss as a number, so each timed step is complete. Inference is `model.predict`.
Every function below the helpers is a job, run in a fresh process by bench/runner.py, because
TensorFlow's thread counts can only be set before its runtime starts: `threads=None` leaves them
as TF chooses, a number pins both the intra-op and the inter-op pool to it. The benchmark runs
these jobs with KERAS_BACKEND=tensorflow. This is the only module that imports TensorFlow
(`pip install -e '.[keras]'`).
"""
import time

import numpy as np
import tensorflow as tf
from keras import Input, Sequential, callbacks, layers, optimizers

from bench import common


def build_model() -> Sequential:
    return Sequential([
        Input((28, 28, 1)),
        layers.Conv2D(32, 3, activation="relu"), layers.MaxPooling2D(2),
        layers.Conv2D(64, 3, activation="relu"), layers.MaxPooling2D(2),
        layers.Flatten(),
        layers.Dense(128, activation="relu"),
        layers.Dropout(0.5),
        layers.Dense(10, activation="softmax"),
    ])


def copy_weights(model: Sequential, params: dict) -> None:
    """Load our parameters {"k.weight": array, "k.bias": array} into the Keras mirror (same layouts)."""
    for name, array in params.items():
        k, key = name.split(".")
        layer = model.layers[int(k)]
        (layer.kernel if key == "weight" else layer.bias).assign(array)


def _setup(threads: int | None, weights: str | None = None) -> Sequential:
    """Thread pools fixed (before any op runs), the model (with our seed weights if a model file
    is given), compiled with Adam at our settings and the cross-entropy of integer labels."""
    if threads is not None:
        tf.config.threading.set_intra_op_parallelism_threads(threads)
        tf.config.threading.set_inter_op_parallelism_threads(threads)
    model = build_model()
    if weights:
        with np.load(weights, allow_pickle=False) as f:
            copy_weights(model, {name: f[name] for name in f.files if name != "__model__"})
    model.compile(optimizer=optimizers.Adam(learning_rate=1e-3, beta_1=0.9, beta_2=0.999, epsilon=1e-7),
                  loss="sparse_categorical_crossentropy")
    return model


def _threads() -> dict:
    """The pools' sizes as TF reports them: 0 means 'as TF chooses' (one thread per core)."""
    return {"intra_op": tf.config.threading.get_intra_op_parallelism_threads(),
            "inter_op": tf.config.threading.get_inter_op_parallelism_threads()}


def _training_rates(model, warmup: int, reps: int, steps: int) -> list[float]:
    x, y = common.random_mnist(common.TRAIN_POOL)
    data = [(tf.constant(xb), tf.constant(yb)) for xb, yb in common.batches(x, y)]
    return common.training_rates(model.train_on_batch, data, warmup, reps, steps)


def training(warmup: int, reps: int, steps: int, threads: int | None = None) -> dict:
    """Training rates (images/s) only, as in bench/ours.py:training (the under-load case)."""
    model = _setup(threads)
    return {"train": _training_rates(model, warmup, reps, steps), "threads": _threads()}


def timed(warmup: int, reps: int, steps: int, infer_reps: int, infer_images: int, threads: int | None = None,
          weights: str | None = None) -> dict:
    """Training rates (images/s), and inference rates over `infer_images` images at each batch
    size of common.INFER_BATCHES, as in bench/ours.py."""
    model = _setup(threads, weights)
    train = _training_rates(model, warmup, reps, steps)
    x = common.random_mnist(infer_images)[0]
    inference = {str(batch): common.inference_rates(
        lambda images, batch=batch: model.predict(images, batch_size=batch, verbose=0), x, infer_reps)
        for batch in common.INFER_BATCHES}
    return {"train": train, "inference": inference, "threads": _threads()}


class _EpochClock(callbacks.Callback):
    """Wall-clock seconds of each epoch of `fit`, validation included."""

    def on_train_begin(self, logs=None):
        self.seconds = []

    def on_epoch_begin(self, epoch, logs=None):
        self.start = time.perf_counter()

    def on_epoch_end(self, epoch, logs=None):
        self.seconds.append(time.perf_counter() - self.start)


def fit_epochs(images: int, epochs: int, threads: int | None = None) -> dict:
    """Seconds of each epoch of `model.fit(x, y, batch_size=128, validation_split=0.1)` on
    `images` random MNIST-shaped images, as a Keras user trains this model (the first epoch
    also traces and compiles the train and test functions)."""
    model = _setup(threads)
    x, y = common.random_mnist(images)
    clock = _EpochClock()
    model.fit(x, y, batch_size=common.BATCH, epochs=epochs, validation_split=0.1, verbose=0,
              callbacks=[clock])
    return {"epoch_s": clock.seconds, "threads": _threads()}


def memory_run(steps: int, threads: int | None = None) -> dict:
    """A training run holding 60,000 images, `steps` steps; the runner reports its peak memory."""
    model = _setup(threads)
    x, y = common.random_mnist(common.EPOCH_IMAGES)
    for xb, yb in common.batches(x, y)[:steps]:
        model.train_on_batch(xb, yb)
    return {"steps": steps}
