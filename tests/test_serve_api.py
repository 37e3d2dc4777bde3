"""serve.py's HTTP API, against a real server on a loopback port (tests/serve_server.py).

POST /api/read must answer what `evaluate.py --json` answers for the same image; POST
/api/explain the layers' outputs, the first layer's filters and the saliency map of the digit
the network saw, each checked against the model computed here in plain NumPy. Every bad request
gets a 4xx and a JSON error, nothing reaches the server's console, and it goes on answering.
The server is stopped with SIGINT, as Ctrl-C does, and must exit 0 saying "stopped", without a
traceback (tests/serve_server.py checks that); --help, a broken model and a busy port too.
"""
import json
import re
import socket
import struct
import subprocess
import sys
import zlib
from concurrent.futures import ThreadPoolExecutor

import numpy as np
import pytest
from number_images import number
from PIL import Image
from serve_server import REPO, drawn_seven, png, running_server

import evaluate
from mnist.normalize import to_model_input
from nncore import Conv2D, Dense, Dropout, Flatten, MaxPool2D, load_model
from nncore.layers.conv import conv2d_reference_backward
from nncore.layers.dense import dense_reference_backward
from nncore.layers.pool import maxpool2x2_reference_backward
from webapp.network import Network

SHIPPED = REPO / "models" / "shipped" / "mnist_cnn.npz"


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    with running_server(tmp_path_factory.mktemp("serve"), "--model", str(SHIPPED)) as server:
        yield server


@pytest.fixture(scope="module")
def model():
    return load_model(SHIPPED)


def answer(server, path, body, status=200):
    got, headers, data = server.post(path, body)
    assert got == status, data
    assert headers["Content-Type"] == "application/json"
    return json.loads(data)


def evaluated(capsys, tmp_path, image_bytes) -> dict:
    """evaluate.py --json on the same bytes, its "path" renamed as the server names uploads."""
    path = tmp_path / "image.png"
    path.write_bytes(image_bytes)
    capsys.readouterr()
    evaluate.main(["--json", "--model", str(SHIPPED), str(path)])
    record = json.loads(capsys.readouterr().out)
    record["path"] = "upload"
    if "error" in record:
        record["error"] = record["error"].replace(str(path), "upload")
    return record


def same_answer(served: dict, expected: dict) -> None:
    """Equal but for the probabilities' last digits: the server's kernels sum in another order."""
    for key in ("probabilities", "confidence", "digits"):
        assert (key in served) == (key in expected)
    assert {k: v for k, v in served.items() if k not in ("probabilities", "confidence", "digits")} == \
        {k: v for k, v in expected.items() if k not in ("probabilities", "confidence", "digits")}
    for mine, theirs in zip(served.get("digits", []), expected.get("digits", [])):
        assert mine["digit"] == theirs["digit"] and mine["box"] == theirs["box"]
        assert np.allclose(mine["probabilities"], theirs["probabilities"], atol=2e-5)
    assert len(served.get("digits", [])) == len(expected.get("digits", []))


def mnist_drawing(digit: np.ndarray) -> bytes:
    """An MNIST test digit as the page would send it: 280x280, dark on white."""
    big = Image.fromarray(255 - digit).resize((280, 280), Image.Resampling.BICUBIC)
    return png(big.convert("RGBA"))


def test_the_page_and_its_files(server):
    status, headers, body = server.request("GET", "/")
    assert status == 200 and headers["Content-Type"].startswith("text/html")
    assert b'<canvas id="pad"' in body and b'src="page.js"' in body
    assert "default-src 'self'" in headers["Content-Security-Policy"]
    for name, kind in [("page.js", "text/javascript"), ("pad.js", "text/javascript"),
                       ("views.js", "text/javascript"), ("page.css", "text/css")]:
        status, headers, body = server.request("GET", "/" + name)
        assert status == 200 and headers["Content-Type"].startswith(kind), name
        assert body == (REPO / "page" / name).read_bytes()
    # Offline: no file of the page names another site.
    for path in (REPO / "page").iterdir():
        assert "http:" not in path.read_text() and "https:" not in path.read_text(), path


def test_read_answers_as_evaluate_does(server, capsys, tmp_path, mnist_data):
    seven = drawn_seven()
    served = answer(server, "/api/read", seven)
    assert served["digit"] == 7 and served["text"] == "7" and served["confidence"] > 0.9
    same_answer(served, evaluated(capsys, tmp_path, seven))
    test_x, test_y = mnist_data.test_images, mnist_data.test_labels
    right = 0
    for k in range(20):
        image = mnist_drawing(test_x[k])
        served = answer(server, "/api/read", image)
        same_answer(served, evaluated(capsys, tmp_path, image))
        right += served["digit"] == test_y[k]
    assert right >= 19


def test_read_a_number(server, capsys, tmp_path, mnist_data):
    test_x, test_y = mnist_data.test_images, mnist_data.test_labels
    image, _ = number([test_x[k] for k in range(4)], np.random.default_rng(3), "clear", "dark_on_white")
    data = png(image)
    served = answer(server, "/api/read", data)
    assert len(served["digits"]) == 4 and "digit" not in served
    same_answer(served, evaluated(capsys, tmp_path, data))
    assert served["text"] == "".join(map(str, test_y[:4]))
    second = answer(server, "/api/explain?digit=1", data)
    assert second["digits"] == 4 and second["index"] == 1 and second["box"] == served["digits"][1]["box"]
    assert second["digit"] == served["digits"][1]["digit"]


def test_no_digit_is_answered_as_evaluate_does(server, capsys, tmp_path):
    blank = png(Image.new("RGBA", (280, 280), (255, 255, 255, 255)))
    served = answer(server, "/api/read", blank)
    assert served == evaluated(capsys, tmp_path, blank)
    assert served["error"].startswith("upload: no digit found")
    assert answer(server, "/api/explain", blank) == served


def test_explain(server, model):
    served = answer(server, "/api/explain", drawn_seven())
    assert served["digit"] == 7 and served["digits"] == 1 and served["index"] == 0
    assert np.isclose(sum(served["probabilities"]), 1, atol=1e-5)
    digit = np.array(served["input"], np.uint8)
    assert digit.shape == (28, 28) and digit.max() == 255
    x = to_model_input(digit)
    names = ["conv1", "pool1", "conv2", "pool2", "dense1", "dense2"]
    shapes = [[32, 26, 26], [32, 13, 13], [64, 11, 11], [64, 5, 5], [128], [10]]
    files = ["conv", "pool", "conv", "pool", "dense", "dense"]
    assert [v["name"] for v in served["layers"]] == names
    assert [v["shape"] for v in served["layers"]] == shapes
    assert [v["file"] for v in served["layers"]] == [f"nncore/layers/{f}.py" for f in files]
    # Each layer's picture is its output computed here by the textbook NumPy version, to within
    # the rounding of the picture (half a step of 255) and of the kernels' float32 sums.
    outputs, h = [], x
    for layer in model.layers:
        h = layer.reference_forward(h)
        outputs.append(h)
    for view, k in zip(served["layers"], [0, 1, 2, 3, 5, 7]):
        values, scale = np.array(view["values"]), view["scale"]
        array = outputs[k][0].transpose(2, 0, 1) if outputs[k].ndim == 4 else outputs[k][0]
        assert values.shape == array.shape and np.abs(values).max() == 255
        assert np.isclose(scale, np.abs(array).max(), rtol=1e-4)
        assert np.abs(values * scale / 255 - array).max() <= 0.51 * scale / 255 + 1e-4 * scale
    assert served["digit"] == int(outputs[-1].argmax())
    filters = served["filters"]
    weight = model.layers[0].params["weight"][:, :, 0, :].transpose(2, 0, 1)
    assert filters["shape"] == [32, 3, 3] and filters["file"] == "nncore/layers/conv.py"
    step = filters["scale"] / 255
    assert np.abs(np.array(filters["values"]) * step - weight).max() <= 0.51 * step


def textbook_input_gradient(model, activations, dscore):
    """d score / dx by each layer's textbook backward (nncore/layers/*.py), given its input and
    output: the functions tests/test_gradients.py checks against numerical derivatives."""
    grad = dscore
    for layer, x, out in reversed(list(zip(model.layers, activations, activations[1:]))):
        relu = getattr(layer, "activation", None) == "relu"
        if isinstance(layer, Conv2D):
            grad = conv2d_reference_backward(grad, out, x, layer.params["weight"], relu)[0]
        elif isinstance(layer, MaxPool2D):
            grad = maxpool2x2_reference_backward(grad, x)
        elif isinstance(layer, Dense):
            grad = dense_reference_backward(grad, out, x, layer.params["weight"], relu)[0]
        elif isinstance(layer, Flatten):
            grad = grad.reshape(x.shape)
        else:
            assert isinstance(layer, Dropout)   # at inference: the identity
    return grad


def test_saliency_is_the_backward_pass(server):
    """The served saliency map is Network.trace's, and that is d(winning logit)/dx: the layers'
    kernels agree with their textbook backward, step by step, on the same activations.

    (Not checked against central differences of the whole network: blank paper makes equal
    values in many max-pooling windows, where the derivative jumps, and the backward sends the
    gradient to the first of them, as training does.)"""
    served = answer(server, "/api/explain", drawn_seven())
    saliency = served["saliency"]
    assert saliency["shape"] == [28, 28] and saliency["digit"] == 7
    assert saliency["files"] == [f"nncore/layers/{name}.py" for name in
                                 ("dense", "dropout", "flatten", "pool", "conv")]
    network = Network(load_model(SHIPPED))
    activations, gradient = network.trace(np.array(served["input"], np.uint8))
    assert saliency["scale"] == round(float(np.abs(gradient).max()), 6)
    assert np.array_equal(saliency["values"], np.rint(gradient * 255 / np.abs(gradient).max()))
    dscore = np.zeros((1, 10), np.float32)
    dscore[0, 7] = 1
    textbook = textbook_input_gradient(network.model, activations, dscore)[0, :, :, 0]
    assert np.abs(textbook - gradient).max() < 1e-5 * np.abs(gradient).max()


def png_header(width: int, height: int) -> bytes:
    """A PNG that declares width x height pixels and holds none: a decompression bomb's header."""
    def chunk(kind, data):
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))
    header = struct.pack(">IIBBBBB", width, height, 1, 0, 0, 0, 0)   # 1 bit, grey
    chunks = chunk(b"IHDR", header) + chunk(b"IDAT", zlib.compress(b"")) + chunk(b"IEND", b"")
    return b"\x89PNG\r\n\x1a\n" + chunks


BAD = {   # name: (method, path, body, headers, status, words in the error)
    "empty body": ("POST", "/api/read", b"", {}, 400, "empty"),
    "not an image": ("POST", "/api/read", b"hello, server", {}, 422, "not an image"),
    "truncated PNG": ("POST", "/api/explain", drawn_seven()[:300], {}, 422, "truncated"),
    "bomb, over twice the limit": ("POST", "/api/read", png_header(20000, 20000), {}, 422, "too large"),
    "bomb, over the limit": ("POST", "/api/explain", png_header(10000, 10000), {}, 422, "too large"),
    "body over 10 MB": ("POST", "/api/read", bytes(10_000_001), {}, 413, "at most 10,000,000"),
    "Content-Length not a number": ("POST", "/api/read", b"x", {"Content-Length": "x1"}, 400, "not a number"),
    "explain ?digit=two": ("POST", "/api/explain?digit=two", drawn_seven(), {}, 400, "digit"),
    "explain ?digit=3 of 1": ("POST", "/api/explain?digit=3", drawn_seven(), {}, 400, "holds 1 digit"),
    "GET an endpoint": ("GET", "/api/read", None, {}, 405, "takes POST"),
    "PUT an endpoint": ("PUT", "/api/read", drawn_seven(), {}, 405, "PUT"),
    "DELETE the page": ("DELETE", "/", None, {}, 405, "DELETE"),
    "POST the page": ("POST", "/", drawn_seven(), {}, 405, "page"),
    "GET a wrong path": ("GET", "/favicon.ico", None, {}, 404, "no such page"),
    "GET a path out of page/": ("GET", "/../serve.py", None, {}, 404, "no such page"),
    "POST a wrong path": ("POST", "/api/guess", drawn_seven(), {}, 404, "no such endpoint"),
}


@pytest.mark.parametrize("name", BAD)
def test_bad_request(server, name):
    method, path, body, headers, status, words = BAD[name]
    got, answer_headers, data = server.request(method, path, body, headers)
    assert got == status, data
    assert answer_headers["Content-Type"] == "application/json"
    assert words in json.loads(data)["error"]


def raw(server, data: bytes, then_stop: bool = False) -> bytes:
    """Send bytes as they are (and with `then_stop`, send nothing more: the client's half of
    the connection closed); -> all the server answers before closing the connection."""
    with socket.create_connection(("127.0.0.1", server.port), timeout=30) as connection:
        connection.sendall(data)
        if then_stop:
            connection.shutdown(socket.SHUT_WR)
        received = b""
        while chunk := connection.recv(65536):
            received += chunk
    return received


POST = b"POST /api/read HTTP/1.1\r\nHost: x\r\n"


@pytest.mark.parametrize("request_bytes, status", [
    (b"GET /a b HTTP/1.1\r\n\r\n", b"400"),
    (b"BREW /api/read HTTP/1.1\r\nHost: x\r\n\r\n", b"405"),
    (POST + b"Transfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n0\r\n\r\n", b"411"),
    (POST + b"Content-Length: 20000000\r\nExpect: 100-continue\r\n\r\n", b"413"),
    (POST + b"Content-Length: 1000\r\nConnection: close\r\n\r\nshort", b"400"),
], ids=["malformed request line", "unknown method", "chunked body", "expect 100 for 20 MB",
        "body cut short"])
def test_bad_request_on_the_wire(server, request_bytes, status):
    # The client that sends less than it said then stops sending.
    received = raw(server, request_bytes, then_stop=request_bytes.endswith(b"short"))
    head, _, body = received.partition(b"\r\n\r\n")
    assert head.split(b"\r\n")[0].split(b" ")[1] == status, received
    assert b"Content-Type: application/json" in head and "error" in json.loads(body)


def test_keep_alive_and_many_clients(server):
    """Several requests on one connection; then 8 clients at once, all answered alike."""
    import http.client
    seven = drawn_seven()
    connection = http.client.HTTPConnection("127.0.0.1", server.port, timeout=60)
    for path in ("/api/read", "/api/explain", "/api/read"):
        connection.request("POST", path, body=seven)
        response = connection.getresponse()
        assert response.status == 200 and json.loads(response.read())["digit"] == 7
        timing = response.headers["Server-Timing"]
        app, cpu = re.fullmatch(r"app;dur=([\d.]+), cpu;dur=([\d.]+)", timing).groups()
        assert 0 < float(cpu) <= float(app) + 0.1
    connection.close()
    with ThreadPoolExecutor(8) as pool:
        answers = list(pool.map(lambda path: server.post(path, seven),
                                ["/api/read", "/api/explain"] * 12))
    assert all(status == 200 for status, _, _ in answers)
    assert len({body for status, _, body in answers[0::2]}) == 1
    assert len({body for status, _, body in answers[1::2]}) == 1


def test_still_serving_and_quiet_after_everything(server):
    """Run last in this module: after all the requests above, bad ones included."""
    assert answer(server, "/api/read", drawn_seven())["digit"] == 7
    console = server.console()
    assert "Traceback" not in console and "error" not in console.lower(), console


def serve_py(*args, timeout=120):
    return subprocess.run([sys.executable, "serve.py", *args], cwd=REPO, capture_output=True,
                          text=True, timeout=timeout)


def test_help_explains_each_option():
    result = serve_py("--help")
    assert result.returncode == 0
    for words in ("--host", "127.0.0.1", "--port", "8000", "any free port", "--model",
                  "models/shipped/mnist_cnn.npz", "Exit status"):
        assert words in result.stdout, words


def test_an_unusable_model_or_port_exits_2(tmp_path):
    (tmp_path / "broken.npz").write_bytes(b"not a model")
    result = serve_py("--model", str(tmp_path / "broken.npz"))
    assert result.returncode == 2 and result.stderr.startswith("error: ") and "Traceback" not in result.stderr
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        result = serve_py("--model", str(SHIPPED), "--port", str(taken.getsockname()[1]))
    assert result.returncode == 2 and "cannot serve on 127.0.0.1 port" in result.stderr
    assert "Traceback" not in result.stderr
    assert serve_py("--port", "70000").returncode == 2
