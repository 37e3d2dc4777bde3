"""The seed model as a whole: size, learning, determinism, modes; and the optimisers."""
import io

import numba
import numpy as np

import nncore
from nncore import SGD, Adam, Conv2D, Dense, Dropout, Sequential, SoftmaxCrossEntropy, mnist_cnn


def test_public_api_is_importable_from_the_package():
    for name in ["Conv2D", "MaxPool2D", "ReLU", "Flatten", "Dense", "Dropout", "Sequential", "Adam", "SGD"]:
        assert hasattr(nncore, name), name


def test_seed_model_has_the_classic_architecture_and_225034_parameters():
    model = mnist_cnn(seed=0)
    assert [type(layer).__name__ for layer in model.layers] == [
        "Conv2D", "MaxPool2D", "Conv2D", "MaxPool2D", "Flatten", "Dense", "Dropout", "Dense"]
    assert [getattr(layer, "activation", None) for layer in model.layers] == [
        "relu", None, "relu", None, None, "relu", None, None]
    assert model.num_params() == 225_034
    assert all(param.dtype == np.float32 for _, param, _ in model.parameters())
    logits = model.forward(np.zeros((3, 28, 28, 1), np.float32))
    assert logits.shape == (3, 10) and logits.dtype == np.float32


def test_glorot_uniform_kernels_and_zero_biases():
    model = mnist_cnn(seed=1)
    conv2 = model.layers[2].params
    limit = np.sqrt(6 / (9 * 32 + 9 * 64))
    assert np.abs(conv2["weight"]).max() <= limit and np.abs(conv2["weight"]).max() > 0.95 * limit
    assert abs(conv2["weight"].std() - limit / np.sqrt(3)) < 0.01 * limit  # std of U(-a, a)
    assert all(not np.any(param) for name, param, _ in model.parameters() if name.endswith("bias"))


def test_first_layer_skips_its_input_gradient():
    model = mnist_cnn(seed=0)
    assert model.layers[0].needs_input_grad is False
    assert all(layer.needs_input_grad for layer in model.layers[1:])
    model.layers[0].forward(np.zeros((2, 28, 28, 1), np.float32))
    assert model.layers[0].backward(np.ones((2, 26, 26, 32), np.float32)) is None
    model.forward(np.zeros((2, 28, 28, 1), np.float32))  # the first step: Conv2D + MaxPool2D as one
    assert model.steps[0].backward(np.ones((2, 13, 13, 32), np.float32)) is None


def train_steps(model, x, y, steps, batch_size=32, optimizer=None):
    optimizer = optimizer or Adam()
    loss_fn = SoftmaxCrossEntropy()
    model.train()
    for step in range(steps):
        batch = np.arange(step * batch_size, (step + 1) * batch_size) % len(x)
        loss_fn.forward(model.forward(x[batch]), y[batch])
        model.backward(loss_fn.backward())
        optimizer.step(model)
    return model


def test_overfits_64_random_images_with_random_labels():
    rng = np.random.default_rng(0)
    x = rng.random((64, 28, 28, 1), dtype=np.float32)
    y = rng.integers(0, 10, 64)
    model = train_steps(mnist_cnn(seed=0), x, y, steps=300, batch_size=64)
    accuracy = np.mean(model.predict(x).argmax(axis=1) == y)
    assert accuracy == 1.0


def test_same_seed_gives_bit_identical_weights():
    rng = np.random.default_rng(1)
    x = rng.random((96, 28, 28, 1), dtype=np.float32)
    y = rng.integers(0, 10, 96)
    runs = [train_steps(mnist_cnn(seed=7), x, y, steps=6) for _ in range(2)]
    other = train_steps(mnist_cnn(seed=8), x, y, steps=6)
    for (name, a, _), (_, b, _), (_, c, _) in zip(*(m.parameters() for m in runs + [other])):
        assert np.array_equal(a, b), name
        assert not np.array_equal(a, c), name


def test_weights_do_not_depend_on_the_number_of_threads():
    """Every sum over a batch is taken per fixed chunk of images, and the chunks added in order,
    whichever thread ran which chunk: one thread and two give the very same weights."""
    rng = np.random.default_rng(2)
    x = rng.random((80, 28, 28, 1), dtype=np.float32)
    y = rng.integers(0, 10, 80)
    threads = numba.get_num_threads()
    runs = []
    try:
        for count in (1, threads):
            numba.set_num_threads(count)
            runs.append(train_steps(mnist_cnn(seed=5), x, y, steps=4, batch_size=40))
    finally:
        numba.set_num_threads(threads)
    for (name, a, _), (_, b, _) in zip(*(m.parameters() for m in runs)):
        assert np.array_equal(a, b), name


def test_each_conv_and_the_pool_after_it_run_as_one_step_with_the_layers_results():
    """Sequential runs Conv2D + MaxPool2D as one step, the layers as built: the step's logits and
    gradients are the layers' own, run one by one, within float rounding (the second layer's
    step computes by Winograd's transforms). Layers run on their own and then model.backward()
    go back through the layers' own backward."""
    model = mnist_cnn(seed=6)
    assert [type(step).__name__ for step in model.steps] == [
        "ConvPool", "ConvPool", "Flatten", "Dense", "Dropout", "Dense"]
    assert [step.conv for step in model.steps[:2]] == [model.layers[0], model.layers[2]]
    model.eval()
    x = np.random.default_rng(7).random((19, 28, 28, 1), dtype=np.float32)
    dlogits = np.random.default_rng(8).standard_normal((19, 10)).astype(np.float32)

    def gradients():
        return [grad.copy() for _, _, grad in model.parameters()]

    logits_steps = model.forward(x)
    model.backward(dlogits)
    grads_steps = gradients()
    h = x
    for layer in model.layers:
        h = layer.forward(h)
    model.backward(dlogits)
    grads_layers = gradients()
    g = dlogits
    for layer in reversed(model.layers):
        g = layer.backward(g)
    for a, b in zip(gradients(), grads_layers):
        np.testing.assert_array_equal(a, b)  # model.backward() went through the layers' own backward
    np.testing.assert_allclose(logits_steps, h, rtol=0, atol=1e-5)
    for a, b in zip(grads_steps, grads_layers):
        np.testing.assert_allclose(a, b, rtol=0, atol=1e-5 * float(np.abs(b).max()))


def test_dropout_is_identity_at_inference_and_scales_while_training():
    x = np.ones((200, 100), np.float32)
    layer = Dropout(0.5, seed=0)
    layer.training = False
    assert layer.forward(x) is x
    layer.training = True
    out = layer.forward(x)
    assert set(np.unique(out)) == {0.0, 2.0}
    assert abs(out.mean() - 1.0) < 0.02
    again = Dropout(0.5, seed=0)
    assert np.array_equal(again.forward(x), out)


def test_predict_restores_training_mode_and_is_deterministic():
    model = mnist_cnn(seed=0)
    model.train()
    x = np.random.default_rng(2).random((5, 28, 28, 1), dtype=np.float32)
    p1, p2 = model.predict(x), model.predict(x, batch_size=2)
    np.testing.assert_allclose(p1, p2, rtol=1e-6)
    np.testing.assert_allclose(p1.sum(axis=1), 1, rtol=1e-5)
    assert all(layer.training for layer in model.layers)


def test_the_textbook_layers_predict_like_the_kernels():
    model = mnist_cnn(seed=4)
    for _, param, _ in model.parameters():
        param += np.float32(0.01)
    model.train()  # reference predictions are at inference whatever the mode: Dropout is off
    x = np.random.default_rng(6).random((40, 28, 28, 1), dtype=np.float32)
    reference = model.predict(x, reference=True)
    assert reference.dtype == np.float32
    np.testing.assert_allclose(reference, model.predict(x), rtol=0, atol=1e-6)
    logits = model.reference_forward(x)
    model.eval()
    np.testing.assert_allclose(logits, model.forward(x), rtol=0, atol=1e-4)


def test_summary_lists_every_layer_with_its_relu_output_shape_and_parameters():
    text = io.StringIO()
    mnist_cnn(seed=0).summary(file=text)
    lines = text.getvalue().splitlines()
    rows = [line.split("  (N, ") for line in lines[2:10]]
    assert [name.strip() for name, _ in rows] == [
        "0 Conv2D 32 3x3 + ReLU", "1 MaxPool2D 2x2", "2 Conv2D 64 3x3 + ReLU", "3 MaxPool2D 2x2",
        "4 Flatten", "5 Dense 128 + ReLU", "6 Dropout 0.5", "7 Dense 10"]
    assert [rest.split(")")[0] for _, rest in rows] == [
        "26, 26, 32", "13, 13, 32", "11, 11, 64", "5, 5, 64", "1600", "128", "128", "10"]
    assert [int(rest.split()[-1].replace(",", "")) for _, rest in rows] == [
        320, 0, 18_496, 0, 0, 204_928, 0, 1_290]
    assert "Total parameters: 225,034" in lines


def test_print_shows_each_layer_as_built_relus_included():
    text = repr(mnist_cnn(seed=0))
    assert text.count("activation='relu'") == 3
    assert "Conv2D(in_channels=1, out_channels=32, kernel_size=3, activation='relu')" in text
    assert "Dense(in_features=128, out_features=10, activation=None)" in text
    assert repr(Dense(3, 2)) == "Dense(in_features=3, out_features=2, activation=None)"


class OneParameter(Sequential):
    """A stand-in model exposing a single parameter with a fixed gradient."""

    def __init__(self, param, grad):
        super().__init__([])
        self.param, self.grad = param, grad

    def parameters(self):
        yield "p", self.param, self.grad


def test_adam_matches_the_textbook_update():
    rng = np.random.default_rng(3)
    p = rng.standard_normal(5)
    expected = p.copy()
    m = v = np.zeros(5)
    adam = Adam(lr=0.01)
    for t in range(1, 4):
        g = rng.standard_normal(5)
        adam.step(OneParameter(p, g))
        m = 0.9 * m + 0.1 * g
        v = 0.999 * v + 0.001 * g * g
        m_hat, v_hat = m / (1 - 0.9**t), v / (1 - 0.999**t)
        expected -= 0.01 * m_hat / (np.sqrt(v_hat) + 1e-7 / np.sqrt(1 - 0.999**t))  # Keras form
    np.testing.assert_allclose(p, expected, rtol=1e-12)


def test_sgd_momentum_matches_the_textbook_update():
    rng = np.random.default_rng(4)
    p = rng.standard_normal(5)
    expected, velocity = p.copy(), np.zeros(5)
    sgd = SGD(lr=0.1, momentum=0.9)
    for _ in range(3):
        g = rng.standard_normal(5)
        sgd.step(OneParameter(p, g))
        velocity = 0.9 * velocity - 0.1 * g
        expected += velocity
    np.testing.assert_allclose(p, expected, rtol=1e-12)


def test_optimizer_state_round_trips():
    rng = np.random.default_rng(5)
    p1, p2 = rng.standard_normal(4), None
    g = rng.standard_normal(4)
    a = Adam()
    a.step(OneParameter(p1, g))
    p2 = p1.copy()
    b = Adam()
    b.load_state({k: v.copy() for k, v in a.state().items()})
    a.step(OneParameter(p1, g))
    b.step(OneParameter(p2, g))
    assert np.array_equal(p1, p2)


def test_layers_built_for_loading_draw_no_random_numbers():
    """initialise=False: zero weights, and the generator given is never drawn from; a dropout
    layer's generator is made on first use, from its seed, drawing the masks it always drew."""
    rng = np.random.default_rng(5)
    before = rng.bit_generator.state
    conv = Conv2D(1, 4, 3, rng=rng, initialise=False)
    dense = Dense(6, 2, rng=rng, initialise=False)
    assert rng.bit_generator.state == before
    assert not conv.params["weight"].any() and not dense.params["weight"].any()
    dropout = Dropout(0.5, seed=9)
    assert dropout._rng is None
    assert np.array_equal(dropout.rng.random(5), np.random.default_rng(9).random(5))
