"""What evaluate.py says about an image it read: its text line, its JSON object, its annotated copy.

One digit reads as it always has: `one.png: 7 (97.3%)`, with `--top-k 3` adding
`  then 1 (1.2%), 9 (0.8%)`. A number reads as its digits and then each digit's confidence:
`scan.jpg: 2026  (2 99.8%, 0 99.1%, 2 97.4%, 6 99.9%)`, `--top-k` adding each digit's next
likeliest (`2 99.8% then 7 0.1%; 0 99.1% then 6 0.5%; ...`). The JSON object of an image holds
`path`, `text` (the digits read, as a string) and `digits`: for each, `digit`, `confidence`, the ten
`probabilities` and its `box` [x, y, width, height] in the image's pixels; an image of one digit
also keeps the top-level `digit`, `confidence` and `probabilities` it always had.
"""
import json

import numpy as np


def _ranked(probabilities: np.ndarray) -> tuple:
    order = probabilities.argsort()[::-1]
    return order, int(order[0]), float(probabilities[order[0]])


def text_line(name: str, readings: list, top_k: int) -> str:
    """`name` (already printable) and [probabilities, ...] of its digits -> the answer line."""
    if len(readings) == 1:
        order, digit, confidence = _ranked(readings[0])
        line = f"{name}: {digit} ({100 * confidence:.1f}%)"
        if top_k > 1:
            line += "  then " + ", ".join(f"{int(k)} ({100 * readings[0][k]:.1f}%)"
                                          for k in order[1:top_k])
        return line
    parts, text = [], ""
    for probabilities in readings:
        order, digit, confidence = _ranked(probabilities)
        text += str(digit)
        part = f"{digit} {100 * confidence:.1f}%"
        if top_k > 1:
            part += " then " + ", ".join(f"{int(k)} {100 * probabilities[k]:.1f}%" for k in order[1:top_k])
        parts.append(part)
    return f"{name}: {text}  ({(', ' if top_k == 1 else '; ').join(parts)})"


def json_line(path: str, readings: list, boxes: list) -> str:
    """The image's JSON object, on one line (`path` already decoded)."""
    digits = []
    for probabilities, box in zip(readings, boxes):
        _, digit, confidence = _ranked(probabilities)
        digits.append({"digit": digit, "confidence": round(confidence, 6),
                       "probabilities": [round(float(p), 6) for p in probabilities],
                       "box": [int(v) for v in box]})
    record = {"path": path}
    if len(digits) == 1:
        record.update({k: digits[0][k] for k in ("digit", "confidence", "probabilities")})
    record.update(text="".join(str(d["digit"]) for d in digits), digits=digits)
    return json.dumps(record)


def annotate(image, readings: list, boxes: list):
    """A copy of the PIL image, in colour, with each digit's box and the digit read above it;
    the boxes are in the file's pixels, which a JPEG decoded at a reduced scale has more of."""
    from PIL import ImageDraw

    from reader.preprocess import REDUCED_BY
    copy = image.convert("RGB")
    draw = ImageDraw.Draw(copy)
    width = max(1, round(max(copy.size) / 300))
    factor = image.info.get(REDUCED_BY, 1)
    for probabilities, box in zip(readings, boxes):
        x, y, w, h = (round(v / factor) for v in box)
        draw.rectangle([x, y, x + w - 1, y + h - 1], outline=(255, 0, 0), width=width)
        draw.text((x + 1, max(0, y - 12)), str(int(np.argmax(probabilities))), fill=(255, 0, 0))
    return copy
