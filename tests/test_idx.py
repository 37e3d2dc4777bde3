"""The IDX reader and writer: round trips, the exact bytes on disk, and every malformed file."""
import gzip
import math
import struct

import numpy as np
import pytest

from mnist.errors import MnistError
from mnist.idx import DTYPES, MAX_CONTENT_BYTES, read_idx, read_images_and_labels, write_idx

SAMPLE_VALUES = {  # values that exercise sign, range and byte order of each type
    0x08: [0, 1, 127, 128, 255, 7],
    0x09: [-128, -1, 0, 1, 127, 5],
    0x0B: [-32768, -1, 0, 1, 258, 32767],
    0x0C: [-(2**31), -1, 0, 1, 66051, 2**31 - 1],
    0x0D: [-1.5, 0.0, 1e-20, 3.25, np.pi, 1e30],
    0x0E: [-1.5, 0.0, 1e-300, 3.25, np.pi, 1e300],
}


@pytest.mark.parametrize("compress", [False, True], ids=["raw", "gzip"])
@pytest.mark.parametrize("type_code", sorted(DTYPES), ids=lambda code: f"0x{code:02X}")
def test_round_trip_for_each_type_code(tmp_path, type_code, compress):
    native = DTYPES[type_code].newbyteorder("=")
    array = np.array(SAMPLE_VALUES[type_code], dtype=native).reshape(2, 3)
    path = tmp_path / "array.idx"
    write_idx(path, array, compress=compress)

    on_disk = path.read_bytes()
    assert on_disk.startswith(b"\x1f\x8b") == compress
    header = gzip.decompress(on_disk)[:4] if compress else on_disk[:4]
    assert header == bytes([0, 0, type_code, 2])
    back = read_idx(path)
    assert back.dtype == native
    assert back.shape == (2, 3)
    np.testing.assert_array_equal(back, array)


def test_written_bytes_are_big_endian_idx(tmp_path):
    path = tmp_path / "a.idx"
    write_idx(path, np.array([[1, 258]], dtype=np.int32))
    expected = (bytes([0, 0, 0x0C, 2]) + struct.pack(">II", 1, 2)
                + b"\x00\x00\x00\x01" + b"\x00\x00\x01\x02")
    assert path.read_bytes() == expected


def test_gzip_is_recognised_by_content_not_name(tmp_path):
    array = np.arange(12, dtype=np.uint8).reshape(3, 4)
    write_idx(tmp_path / "gzipped-but-named.idx", array, compress=True)
    write_idx(tmp_path / "raw-but-named.gz", array, compress=False)
    np.testing.assert_array_equal(read_idx(tmp_path / "gzipped-but-named.idx"), array)
    np.testing.assert_array_equal(read_idx(tmp_path / "raw-but-named.gz"), array)


def test_read_array_is_writable_and_native(tmp_path):
    write_idx(tmp_path / "a.idx", np.ones((2, 2), dtype=np.float64))
    array = read_idx(tmp_path / "a.idx")
    array[0, 0] = 5.0  # would raise on a read-only view of the file's bytes
    assert array.dtype.isnative


def test_write_rejects_types_idx_cannot_hold(tmp_path):
    with pytest.raises(TypeError, match="uint64"):
        write_idx(tmp_path / "a.idx", np.zeros(3, dtype=np.uint64))


def header(type_code, *shape):
    return bytes([0, 0, type_code, len(shape)]) + struct.pack(f">{len(shape)}I", *shape)


MALFORMED = {  # case -> (file content, words the message must contain)
    "empty": (b"", ["empty"]),
    "short magic": (b"\x00\x00\x08", ["truncated header", "3 bytes"]),
    "truncated header": (header(0x08, 2, 3)[:10], ["truncated header", "12 header bytes", "10"]),
    "truncated data": (header(0x08, 4, 5) + bytes(15), ["truncated", "4 x 5 = 20 bytes", "15"]),
    "truncated int32 data": (header(0x0C, 3) + bytes(8),
                             ["truncated", "3 x 4-byte int32 = 12 bytes", "holds 8"]),
    "trailing bytes": (header(0x08, 4, 5) + bytes(23), ["3 trailing bytes", "20 bytes", "23"]),
    "wrong magic": (b"\x08\x03\x00\x00" + bytes(20), ["not an IDX file", "08 03 00 00"]),
    "unknown type code": (header(0x07, 2) + bytes(2), ["unknown IDX type code 0x07"]),
    "no dimensions": (bytes([0, 0, 8, 0]), ["0 dimensions"]),
}


@pytest.mark.parametrize("case", MALFORMED)
def test_malformed_file_gives_its_own_clear_error(tmp_path, case):
    content, words = MALFORMED[case]
    path = tmp_path / "bad-idx1-ubyte"
    path.write_bytes(content)
    with pytest.raises(MnistError) as raised:
        read_idx(path)
    message = str(raised.value)
    assert message.startswith("bad-idx1-ubyte: ")
    for word in words:
        assert word in message


def test_truncated_images_message_matches_the_issue_example(tmp_path):
    path = tmp_path / "t10k-images-idx3-ubyte.gz"
    path.write_bytes(gzip.compress(header(0x08, 10000, 28, 28) + bytes(3_920_000)))
    with pytest.raises(MnistError) as raised:
        read_idx(path)
    assert str(raised.value) == (
        "t10k-images-idx3-ubyte.gz: truncated: header says 10000 x 28 x 28 = 7,840,000 bytes, "
        "file holds 3,920,000"
    )


@pytest.mark.parametrize("damage", ["flipped bytes", "cut short", "bad checksum"])
def test_corrupt_gzip_stream(tmp_path, damage):
    stream = bytearray(gzip.compress(header(0x08, 1000) + bytes(range(250)) * 4))
    if damage == "flipped bytes":
        stream[20:30] = bytes(b ^ 0xFF for b in stream[20:30])
    elif damage == "cut short":
        stream = stream[: len(stream) // 2]
    else:
        stream[-8] ^= 0xFF  # the CRC-32 of the content, stored after the deflate data
    path = tmp_path / "labels.gz"
    path.write_bytes(bytes(stream))
    with pytest.raises(MnistError, match="^labels.gz: corrupt gzip stream"):
        read_idx(path)


def test_missing_file(tmp_path):
    with pytest.raises(MnistError, match="nope.gz: cannot read .*No such file"):
        read_idx(tmp_path / "nope.gz")


def write_pair(tmp_path, images, labels):
    write_idx(tmp_path / "images.gz", images, compress=True)
    write_idx(tmp_path / "labels.gz", labels, compress=True)
    return tmp_path / "images.gz", tmp_path / "labels.gz"


def test_images_and_labels_read_together(tmp_path):
    images = np.random.default_rng(0).integers(0, 256, (5, 28, 28), dtype=np.uint8)
    labels = np.array([0, 9, 3, 3, 7], dtype=np.uint8)
    read_images, read_labels = read_images_and_labels(*write_pair(tmp_path, images, labels))
    np.testing.assert_array_equal(read_images, images)
    np.testing.assert_array_equal(read_labels, labels)


def test_image_and_label_counts_must_agree(tmp_path):
    pair = write_pair(tmp_path, np.zeros((5, 28, 28), np.uint8), np.zeros(4, np.uint8))
    with pytest.raises(MnistError, match="images.gz holds 5 images but labels.gz holds 4 labels"):
        read_images_and_labels(*pair)


def test_a_label_of_10_is_rejected(tmp_path):
    labels = np.array([1, 2, 10, 3], dtype=np.uint8)
    pair = write_pair(tmp_path, np.zeros((4, 28, 28), np.uint8), labels)
    with pytest.raises(MnistError, match="labels.gz: a label of 10 at index 2"):
        read_images_and_labels(*pair)


@pytest.mark.parametrize("images, words", [
    (np.zeros((4, 784), np.uint8), "expected uint8 images (N x 28 x 28), found uint8 with shape"),
    (np.zeros((4, 28, 28), np.int16), "found int16"),
    (np.zeros((4, 32, 32), np.uint8), "images are 32 x 32 pixels, expected 28 x 28"),
])
def test_images_must_be_28_by_28_uint8(tmp_path, images, words):
    pair = write_pair(tmp_path, images, np.zeros(4, np.uint8))
    with pytest.raises(MnistError) as raised:
        read_images_and_labels(*pair)
    assert words in str(raised.value)


# Bounded memory: nothing is read whole, and no file may hold more than an MNIST file can.

def test_raw_file_larger_than_any_mnist_file_is_refused_by_its_size(tmp_path):
    path = tmp_path / "huge-idx3-ubyte"
    with path.open("wb") as file:
        file.truncate(8 << 30)  # 8 GiB of zeros, sparse: nothing is written to disk
    with pytest.raises(MnistError) as raised:
        read_idx(path)
    assert str(raised.value) == (
        f"huge-idx3-ubyte: 8,589,934,592 bytes, more than {MAX_CONTENT_BYTES:,}; "
        "the largest MNIST file is 47,040,016"
    )


@pytest.mark.parametrize("type_code, sizes", [(0x08, (100000, 28, 28)), (0x0E, (2**32 - 1,) * 4)])
def test_header_declaring_too_much_data_is_refused_before_reading_it(tmp_path, type_code, sizes):
    path = tmp_path / "big.gz"
    path.write_bytes(gzip.compress(header(type_code, *sizes)))  # the header, no data
    declared = math.prod(sizes) * DTYPES[type_code].itemsize  # Python ints: no overflow
    with pytest.raises(MnistError) as raised:
        read_idx(path)
    assert str(raised.value).startswith("big.gz: header says ")
    assert str(raised.value).endswith(f" = {declared:,} bytes, more than {MAX_CONTENT_BYTES:,}; "
                                      "the largest MNIST file is 47,040,016")


def test_content_past_the_cap_is_refused_for_gzip_and_raw(tmp_path):
    content = header(0x08, 10) + bytes(100)  # 108 bytes: the header alone is within the cap
    (tmp_path / "raw").write_bytes(content)
    (tmp_path / "gzipped").write_bytes(gzip.compress(content))
    with pytest.raises(MnistError, match="^raw: 108 bytes, more than 50;"):
        read_idx(tmp_path / "raw", max_bytes=50)
    with pytest.raises(MnistError, match="^gzipped: inflates to more than 50 bytes,"):
        read_idx(tmp_path / "gzipped", max_bytes=50)
    with pytest.raises(MnistError, match="^gzipped: 90 trailing bytes"):  # within a larger cap
        read_idx(tmp_path / "gzipped", max_bytes=108)


@pytest.mark.parametrize("gibibytes", [1, 8])
@pytest.mark.parametrize("call", ["read_idx(path)", "load_mnist(path.parent, download=False)"])
def test_gzip_bomb_in_the_data_directory_is_refused_in_little_memory(gzip_bombs, measured,
                                                                     gibibytes, call):
    """A 1 MB file that inflates to 1 GiB (8 MB -> 8 GiB), refused after 48 MB of content."""
    output, _, mib, seconds = measured(
        "from pathlib import Path\nfrom mnist.dataset import load_mnist\n"
        "from mnist.errors import MnistError\nfrom mnist.idx import read_idx",
        f"path = Path({str(gzip_bombs[gibibytes])!r})\n{call}")
    assert f"train-images-idx3-ubyte.gz: inflates to more than {MAX_CONTENT_BYTES:,} bytes, " \
           f"the largest MNIST file is 47,040,016" in output
    # read_idx fills the 47,040,000-byte array the header asks for; hashing holds one chunk
    assert mib < (MAX_CONTENT_BYTES >> 20) + 16 if call.startswith("read") else mib < 16
    assert seconds < 5  # it stops early: inflating all of 8 GiB takes well over 10 s
