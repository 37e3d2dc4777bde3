"""Helpers for the hostile-file tests: crafting model files as an attacker would, and checking
how the loader answers them.

A crafted file starts from a real one: a member replaced (`craft`), the architecture record
edited (`with_record`), or the whole zip archive written byte by byte (`write_zip_by_hand`),
which can declare anything, a size that lies included.
"""
import io
import json
import struct
import subprocess
import sys
import zipfile
import zlib
from pathlib import Path

import numpy as np
import pytest

from nncore import ModelFileError, SoftmaxCrossEntropy, load_model, mnist_cnn

REPO = Path(__file__).resolve().parents[1]
MiB = 1024 * 1024


def members(path) -> dict[str, bytes]:
    with zipfile.ZipFile(path) as archive:
        return {name: archive.read(name) for name in archive.namelist()}


def npy(array) -> bytes:
    """`array` as a .npy file; an object array is pickled, as an attacker's file may be."""
    buffer = io.BytesIO()
    np.save(buffer, array, allow_pickle=True)
    return buffer.getvalue()


def npy_header(shape, descr="<f4") -> bytes:
    """The magic string and header of a .npy file, as NumPy writes them, without any data."""
    buffer = io.BytesIO()
    np.lib.format.write_array_header_1_0(buffer, {"descr": descr, "fortran_order": False, "shape": shape})
    return buffer.getvalue()


def craft(source, target, changes=None) -> Path:
    """A copy of the model file `source` with members replaced: {"5.weight": bytes or an array,
    or None to delete it}."""
    contents = members(source)
    for key, value in (changes or {}).items():
        name = key + ".npy"
        if value is None:
            del contents[name]
        else:
            contents[name] = value if isinstance(value, bytes) else npy(np.asarray(value))
    with zipfile.ZipFile(target, "w") as archive:
        for name, data in contents.items():
            archive.writestr(name, data)
    return target


def record(path) -> dict:
    """The architecture record of the model file at `path`."""
    with np.load(path, allow_pickle=False) as archive:
        return json.loads(str(archive["__model__"]))


def with_record(source, target, new_record) -> Path:
    """A copy of `source` whose record is `new_record` (a dict, or any text at all)."""
    text = new_record if isinstance(new_record, str) else json.dumps(new_record)
    return craft(source, target, {"__model__": np.array(text)})


def array(path, name) -> np.ndarray:
    with np.load(path, allow_pickle=False) as archive:
        return archive[name]


def write_zip_by_hand(path, entries) -> None:
    """A zip archive of (name, stored bytes, method, CRC, declared size) entries, written byte by
    byte (PKWARE's APPNOTE, sections 4.3.7, 4.3.12, 4.3.16), so that it can declare anything."""
    directory = b""
    with open(path, "wb") as f:
        for name, data, method, crc, size in entries:
            offset, encoded = f.tell(), name.encode()
            f.write(struct.pack("<4s5H3L2H", b"PK\x03\x04", 20, 0, method, 0, 0x21, crc, len(data),
                                size, len(encoded), 0) + encoded + data)
            directory += struct.pack("<4s6H3L5H2L", b"PK\x01\x02", 20, 20, 0, method, 0, 0x21, crc,
                                     len(data), size, len(encoded), 0, 0, 0, 0, 0, offset) + encoded
        start = f.tell()
        f.write(directory + struct.pack("<4s4H2LH", b"PK\x05\x06", 0, 0, len(entries), len(entries),
                                        len(directory), start, 0))


def stored_entries(path) -> list:
    """The members of the model file at `path`, as entries for write_zip_by_hand."""
    return [(name, data, zipfile.ZIP_STORED, zlib.crc32(data), len(data))
            for name, data in members(path).items()]


def zeros_deflated(prefix: bytes, mebibytes: int) -> tuple[bytes, int, int]:
    """(deflate stream, CRC, inflated size) of `prefix` followed by that many MiB of zeros: a zip
    bomb, about a thousandth of its inflated size. A full flush makes the compressor forget its
    history, so every MiB of zeros compresses to the same bytes, and one block is repeated."""
    chunk = bytes(MiB)
    compressor = zlib.compressobj(9, zlib.DEFLATED, -15)
    head = compressor.compress(prefix) + compressor.flush(zlib.Z_FULL_FLUSH)
    block = compressor.compress(chunk) + compressor.flush(zlib.Z_FULL_FLUSH)
    crc = zlib.crc32(prefix)
    for _ in range(mebibytes):
        crc = zlib.crc32(chunk, crc)
    return head + block * mebibytes + compressor.flush(), crc, len(prefix) + mebibytes * MiB


def stepped(optimizer):
    """mnist_cnn(0) and `optimizer` after one real training step: every state array exists."""
    model, loss_fn = mnist_cnn(0), SoftmaxCrossEntropy()
    loss_fn.forward(model.forward(np.random.default_rng(0).random((4, 28, 28, 1), np.float32)),
                    np.array([0, 1, 2, 3]))
    model.backward(loss_fn.backward())
    optimizer.step(model)
    return model, optimizer


def refused(path, *fragments, load=load_model) -> str:
    """The message of the ModelFileError `load(path)` raises: one line, naming the file, never
    advising to allow pickles, holding every fragment."""
    with pytest.raises(ModelFileError) as info:
        load(path)
    message = str(info.value)
    assert message.startswith(f"{path}: ") and "\n" not in message, message
    assert "pickle" not in message[len(f"{path}: "):], message
    for fragment in fragments:
        assert fragment in message, message
    return message


PEAK_SCRIPT = """
import sys
from nncore import ModelFileError, load_model

def status(field):  # in KiB
    return int(next(line for line in open("/proc/self/status") if line.startswith(field)).split()[1])

before = status("VmRSS:")
with open("/proc/self/clear_refs", "w") as f:
    f.write("5")  # reset the peak (VmHWM) to the present size
try:
    load_model(sys.argv[1])
    outcome = "loaded"
except ModelFileError as error:
    outcome = str(error)
print(status("VmHWM:") - before)
print(outcome)
"""


def load_in_child(path) -> tuple[float, str]:
    """(how many MiB above its size before, at its peak, a fresh process took to load `path`,
    the outcome). Linux only: the peak is reset through /proc/self/clear_refs."""
    if not Path("/proc/self/clear_refs").exists():
        pytest.skip("measuring a process's peak memory needs Linux's /proc/self/clear_refs")
    result = subprocess.run([sys.executable, "-c", PEAK_SCRIPT, str(path)], cwd=REPO,
                            capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stderr
    grown_kib, outcome = result.stdout.splitlines()
    return int(grown_kib) / 1024, outcome
