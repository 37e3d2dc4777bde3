"""docs/make_walkthrough.py: it writes the walkthrough and every picture the walkthrough links, the
numbers it prints are the model's own, and the input gradient it shows (computed by our backward
pass) matches central differences on a float64 copy of the model."""
import importlib.util
import re
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from mnist.normalize import to_model_input
from nncore import SoftmaxCrossEntropy, load_model
from nncore.gradcheck import numerical_gradient

REPO_ROOT = Path(__file__).resolve().parents[1]
SCRIPT = REPO_ROOT / "docs" / "make_walkthrough.py"
SHIPPED_MODEL = REPO_ROOT / "models" / "shipped" / "mnist_cnn.npz"
PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"


def max_relative_error(a, b):
    return float(np.max(np.abs(a - b) / np.maximum(np.abs(a) + np.abs(b), 1e-30)))


@pytest.fixture(scope="module")
def walkthrough(tmp_path_factory, mnist_data_dir):
    """(output folder, markdown text) of one run of the script into a temporary folder."""
    out = tmp_path_factory.mktemp("walkthrough")
    result = subprocess.run([sys.executable, str(SCRIPT), "--out", str(out),
                             "--data-dir", str(mnist_data_dir)],
                            cwd=REPO_ROOT, capture_output=True, text=True, timeout=600)
    assert result.returncode == 0, result.stderr
    return out, (out / "WALKTHROUGH.md").read_text()


@pytest.fixture(scope="module")
def script():
    spec = importlib.util.spec_from_file_location("make_walkthrough", SCRIPT)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_it_writes_the_markdown_and_every_picture_and_file_it_links(walkthrough):
    out, text = walkthrough
    pictures = re.findall(r"!\[[^\]]*\]\(([^)]+)\)", text)
    assert len(pictures) >= 10
    for picture in pictures:
        data = (out / picture).read_bytes()
        assert data.startswith(PNG_SIGNATURE), picture
        assert len(data) < 100_000, picture
    # The folder holds exactly the linked pictures, and every other link (into the code) resolves.
    assert sorted((out / "walkthrough").iterdir()) == sorted(out / p for p in set(pictures))
    for link in re.findall(r"\]\(([^)]+)\)", text):
        assert (out / link).exists(), link


def test_the_printed_probabilities_sum_to_one_and_the_prediction_is_the_models(walkthrough,
                                                                               mnist_data):
    _, text = walkthrough
    index = int(re.search(r"\*\*test image #(\d+)\*\*", text).group(1))
    row = re.search(r"^\| probability p \|(.*)\|$", text, re.MULTILINE).group(1)
    printed = np.array([float(cell) for cell in row.split("|")])
    assert printed.shape == (10,)
    assert abs(printed.sum() - 1) < 1e-5
    model = load_model(SHIPPED_MODEL)
    probabilities = model.predict(to_model_input(mnist_data.test_images[index:index + 1]))[0]
    # As printed: 6 decimals, or 2 significant digits below 0.001.
    assert np.all(np.abs(printed - probabilities) <= np.maximum(0.05 * probabilities, 6e-7))
    predicted = int(re.search(r"\*\*Prediction: (\d)\*\*", text).group(1))
    assert predicted == int(np.argmax(probabilities))


def kink_free(f, x, k, eps) -> bool:
    """Whether f's one-sided slopes at flat position k of x, over eps either way, agree."""
    flat, old, here = x.reshape(-1), x.reshape(-1)[k], f()
    flat[k] = old + eps
    right = (f() - here) / eps
    flat[k] = old - eps
    left = (here - f()) / eps
    flat[k] = old
    return abs(right - left) <= 2e-4 * (abs(right) + abs(left))


def test_the_saliency_map_is_the_gradient_of_the_loss_by_central_differences(walkthrough, script,
                                                                             mnist_data):
    _, text = walkthrough
    followed = int(re.search(r"\*\*test image #(\d+)\*\*", text).group(1))
    mistake = int(re.search(r"gets wrong is \*\*#(\d+)\*\*", text).group(1))
    model = load_model(SHIPPED_MODEL)
    model64 = script.float64_copy(model)
    rng = np.random.default_rng(0)
    for index in (followed, mistake):
        image, label = mnist_data.test_images[index], int(mnist_data.test_labels[index])
        x = to_model_input(image).astype(np.float64)
        analytic = script.follow(model64, x, label).saliency.ravel()
        assert np.abs(analytic).max() > 0

        def loss():
            return SoftmaxCrossEntropy().forward(model64.forward(x), np.array([label]))

        # Pixels on the ink: the 5 where the gradient is largest and 5 more at random. (On the
        # background, all-background pooling windows hold ties, where the loss has two one-sided
        # derivatives: our pooling's choice of one of them is not what central differences see.)
        inked = np.flatnonzero(image.ravel() > 0)
        strongest = inked[np.argsort(np.abs(analytic[inked]))[::-1][:5]]
        pixels = np.concatenate([strongest, rng.choice(np.setdiff1d(inked, strongest), 5, replace=False)])
        numeric = numerical_gradient(loss, x, eps=1e-4, indices=pixels).reshape(-1)[pixels]
        # A pixel whose +-1e-4 moves a ReLU or a pooling window's winner across its kink has no
        # derivative there to compare with: its slopes to the left and to the right differ,
        # where elsewhere they agree to a few 1e-5. Those pixels are left out.
        smooth = np.array([kink_free(loss, x, k, 1e-4) for k in pixels])
        assert smooth.sum() >= 6, index
        # 1e-4: the loss of a confident digit, ~1e-6, comes out of a log-sum-exp of logits of
        # ~10, so float64 resolves its changes only to about 1e-5 of their size.
        assert max_relative_error(analytic[pixels][smooth], numeric[smooth]) < 1e-4, index

        # The float32 map the document shows is the same on the ink, to float32's resolution:
        # for a digit read with p within 1e-6 of 1, dL/dlogit = p - 1 is a few of float32's steps
        # of 6e-8 near 1, so a few percent. (Off the ink, float32 rounding can break a tie
        # between equal sums the other way.)
        shown = script.follow(model, to_model_input(image), label).saliency.ravel()
        assert np.abs(shown - analytic)[inked].max() <= 0.1 * np.abs(analytic).max(), index
