"""One training step, and measuring a model on a data set: the two things every trainer does.

    loss = train_step(model, loss_fn, optimizer, x, y)
    mean_loss, accuracy, predicted = evaluate(model, images, labels)

A training step is the whole of gradient descent: the forward pass computes the logits and the
loss, the backward pass the gradient of the loss with respect to every parameter (the chain
rule, layer by layer in reverse, nncore/model.py), and the optimiser moves every parameter a
little against its gradient. train.py, the benchmark and the tests all call this one function.
"""
import numpy as np

from mnist.normalize import to_model_input
from nncore import SoftmaxCrossEntropy


def train_step(model, loss_fn, optimizer, x: np.ndarray, y: np.ndarray) -> float:
    """Forward, loss, backward, update, for one batch x (N, 28, 28, 1) with labels y (N,);
    -> the batch's mean loss. `loss_fn.probabilities` then holds the softmax of the logits."""
    loss = loss_fn.forward(model.forward(x), y)
    model.backward(loss_fn.backward())
    optimizer.step(model)
    return loss


def evaluate(model, images: np.ndarray, labels: np.ndarray, batch_size: int = 256):
    """-> (mean loss, accuracy, predicted digits) on uint8 images, in inference mode (no
    Dropout); the model is put back into training mode afterwards."""
    loss_fn, loss_sum, predictions = SoftmaxCrossEntropy(), 0.0, []
    model.eval()
    for start in range(0, len(images), batch_size):
        logits = model.forward(to_model_input(images[start:start + batch_size]))
        loss_sum += loss_fn.forward(logits, labels[start:start + batch_size]) * len(logits)
        predictions.append(logits.argmax(axis=1))
    model.train()
    predictions = np.concatenate(predictions)
    accuracy = int(np.count_nonzero(predictions == labels)) / len(images)
    return loss_sum / len(images), accuracy, predictions
