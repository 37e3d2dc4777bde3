"""What the two endpoints compute, from the bytes of an uploaded image to the JSON they answer.

POST /api/read answers what `python evaluate.py --json` prints for that image, by the same steps:
`open_image` (reader/preprocess.py) decodes the bytes; `read_number` (reader/segment.py) finds
each digit, left to right, in MNIST's 28x28 form; the network answers for them all at once;
`json_line` (reader/answers.py) writes the object, its "path" being the name "upload". The
probabilities agree with evaluate.py's to about 1e-6: the kernels add the same products in
another order than the NumPy path evaluate.py takes for a few images (webapp/network.py says
why the server takes the kernels).

POST /api/explain reads the image the same way and explains one of its digits, the first unless
the query asks for another (`?digit=2`): webapp/explain.py.

Two kinds of failure. A body that is not an image the server can decode (not an image at all,
truncated or corrupt, over Pillow's decompression-bomb limit) is the client's mistake: a
RequestError, answered 422. An image that decodes but holds no digit to read (a blank pad, only
a dot, far too many marks) is a fine request with a sad answer: evaluate.py's
{"path": "upload", "error": "upload: no digit found ..."}, with status 200.
"""
import json
import threading

import numpy as np

from reader.answers import json_line
from reader.errors import ImageError
from reader.preprocess import open_image
from reader.segment import read_number
from webapp.explain import explanation

NAME = "upload"   # the image's name in the answers and their messages
# open_image makes Pillow's decompression-bomb warning an error by changing the warning filters
# (warnings.catch_warnings), which belong to the whole process: one upload decoded at a time.
DECODING = threading.Lock()


class RequestError(Exception):
    """A request the endpoint cannot answer, for the client to fix: (HTTP status, message)."""

    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status


def digits_of(network, data: bytes) -> list:
    """The image's digits, as evaluate.py finds them: [(uint8 (28, 28), [x, y, w, h]), ...].
    RequestError 422 when the bytes cannot be decoded; ImageError when they hold no digit."""
    try:
        with DECODING:
            image = open_image(NAME, data=data)
    except ImageError as error:
        raise RequestError(422, str(error)) from None
    return read_number(image, NAME, network.probabilities)


def unread(error: ImageError) -> str:
    """The answer for an image without a digit to read: evaluate.py's {"path", "error"}."""
    return json.dumps({"path": NAME, "error": str(error)})


def read(network, data: bytes) -> str:
    """POST /api/read: evaluate.py's JSON object for the image."""
    try:
        digits = digits_of(network, data)
    except ImageError as error:
        return unread(error)
    readings = network.probabilities([digit for digit, _ in digits])
    if not np.all(np.isfinite(readings)):
        raise ValueError("the network's output is not finite (is the model file broken?)")
    return json_line(NAME, list(readings), [box for _, box in digits])


def explain(network, data: bytes, query: dict) -> str:
    """POST /api/explain[?digit=K]: digit K of the image (from 0, left to right) explained."""
    wanted = query.get("digit", ["0"])[-1]
    if not (wanted.isascii() and wanted.isdigit()):
        raise RequestError(400, f"digit={wanted!r}: expected a digit's position, 0 for the first")
    try:
        digits = digits_of(network, data)
    except ImageError as error:
        return unread(error)
    index = int(wanted)
    if index >= len(digits):
        raise RequestError(400, f"digit={index}: the image holds {len(digits)} digit(s), "
                                "numbered from 0")
    digit, box = digits[index]
    answer = {"path": NAME, "digits": len(digits), "index": index, "box": box}
    answer.update(explanation(network, digit))
    return json.dumps(answer, separators=(",", ":"))
