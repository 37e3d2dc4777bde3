"""Downloading: through a loopback HTTP server, with good, corrupt, truncated and dead mirrors.

Most tests serve two tiny synthetic files and pass their checksums to `ensure_mnist`; one
serves the real MNIST files and checks them against the published checksums.
"""
import gzip
import hashlib
import socket
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import numpy as np
import pytest

from mnist import download
from mnist.download import MNIST_SHA256, ensure_mnist, resolve_data_dir, resolve_mirrors, verify_mnist
from mnist.errors import MnistError
from mnist.idx import MAX_CONTENT_BYTES, read_idx, write_idx


class MirrorHandler(BaseHTTPRequestHandler):
    """Serves GET /<mode>/<file name> from `server.files`, misbehaving as <mode> says.

    good: the file; corrupt: the file with bytes flipped in the middle; wrong: a valid gzip
    of other content; truncated: half the file, though Content-Length promises all of it;
    missing: 404; busy: 503; slow: the file after a pause longer than the client's timeout;
    huge: a Content-Length of 30 MB; endless: zeros without a Content-Length, for ever.
    """

    def do_GET(self):
        self.server.requests.append(self.path)
        mode, _, name = self.path.strip("/").partition("/")
        content = self.server.files.get(name)
        if content is None or mode in ("missing", "busy"):
            self.send_error(404 if mode != "busy" else 503)
            return
        if mode == "slow":
            time.sleep(0.5)
        if mode in ("huge", "endless"):
            self.send_response(200)
            if mode == "huge":
                self.send_header("Content-Length", "30000000")
            self.end_headers()
            try:
                while True:
                    self.wfile.write(bytes(1 << 16))
            except OSError:  # the client hung up
                return
        promised = len(content)
        if mode == "corrupt":
            middle = len(content) // 2
            content = content[:middle] + bytes(b ^ 0xFF for b in content[middle:middle + 8]) \
                + content[middle + 8:]
        elif mode == "wrong":
            content = gzip.compress(b"not the file you want")
            promised = len(content)
        elif mode == "truncated":
            content = content[: len(content) // 2]
        self.send_response(200)
        self.send_header("Content-Length", str(promised))
        self.end_headers()
        try:
            self.wfile.write(content)
        except OSError:  # the client gave up waiting ("slow")
            pass

    def log_message(self, *args):
        pass  # keep the test output quiet


@pytest.fixture
def server():
    """A mirror on 127.0.0.1; put bytes in `server.files`, read `server.requests`."""
    server = ThreadingHTTPServer(("127.0.0.1", 0), MirrorHandler)
    server.files, server.requests = {}, []
    thread = threading.Thread(target=server.serve_forever, args=(0.01,), daemon=True)
    thread.start()
    yield server
    server.shutdown()
    server.server_close()
    thread.join()


def url(server, mode):
    return f"http://127.0.0.1:{server.server_port}/{mode}/"


def closed_port_url():
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    return f"http://127.0.0.1:{port}/"  # nothing listens there any more


@pytest.fixture(autouse=True)
def quick_and_isolated(monkeypatch):
    monkeypatch.setattr(download, "RETRY_DELAY_S", 0)
    monkeypatch.delenv("MNIST_MIRRORS", raising=False)
    monkeypatch.delenv("MNIST_DATA_DIR", raising=False)


@pytest.fixture
def tiny(server, tmp_path):
    """Two small gzipped IDX files served by `server`; returns name -> expected SHA-256."""
    rng = np.random.default_rng(0)
    arrays = {
        "tiny-images-idx3-ubyte.gz": rng.integers(0, 256, (20, 28, 28), dtype=np.uint8),
        "tiny-labels-idx1-ubyte.gz": rng.integers(0, 10, 20, dtype=np.uint8),
    }
    checksums = {}
    for name, array in arrays.items():
        write_idx(tmp_path / "served", array, compress=True)
        server.files[name] = (tmp_path / "served").read_bytes()
        checksums[name] = hashlib.sha256(gzip.decompress(server.files[name])).hexdigest()
    return checksums


def test_download_succeeds_and_verifies(server, tiny, tmp_path):
    data_dir = tmp_path / "data"
    paths = ensure_mnist(data_dir, mirrors=[url(server, "good")], progress=False, checksums=tiny)
    assert sorted(path.name for path in data_dir.iterdir()) == sorted(tiny)  # no temp files
    for name, path in paths.items():
        assert path.read_bytes() == server.files[name]
    assert read_idx(paths["tiny-labels-idx1-ubyte.gz"]).shape == (20,)

    requests = len(server.requests)
    ensure_mnist(data_dir, mirrors=[url(server, "good")], progress=False, checksums=tiny)
    assert len(server.requests) == requests  # verified files are not fetched again


@pytest.mark.parametrize("mode, words", [
    ("corrupt", "corrupt gzip stream"),
    ("wrong", "SHA-256 of the content is"),
    ("truncated", "truncated response"),
])
def test_bad_response_is_rejected_and_leaves_nothing(server, tiny, tmp_path, capsys, mode,
                                                     words):
    data_dir = tmp_path / "data"
    with pytest.raises(MnistError, match="could not download tiny-images-idx3-ubyte.gz"):
        ensure_mnist(data_dir, mirrors=[url(server, mode)], progress=False, checksums=tiny)
    assert capsys.readouterr().err.count(words) == 1  # said once, and a bad file is not retried
    assert list(data_dir.iterdir()) == []


def test_interrupted_download_leaves_nothing(server, tiny, tmp_path, monkeypatch):
    class InterruptedBar:  # stands in for tqdm: Ctrl-C arrives with the first chunk
        def __init__(self, **options):
            pass

        def __enter__(self):
            return self

        def __exit__(self, *exception):
            return False

        def update(self, n):
            raise KeyboardInterrupt

    monkeypatch.setattr(download, "tqdm", InterruptedBar)
    data_dir = tmp_path / "data"
    with pytest.raises(KeyboardInterrupt):
        ensure_mnist(data_dir, mirrors=[url(server, "good")], progress=False, checksums=tiny)
    assert list(data_dir.iterdir()) == []


def test_failing_mirrors_fall_back_to_the_next(server, tiny, tmp_path):
    mirrors = [closed_port_url(), url(server, "missing"), url(server, "busy"), url(server, "good")]
    paths = ensure_mnist(tmp_path, mirrors=mirrors, progress=False, checksums=tiny)
    assert all(path.read_bytes() == server.files[name] for name, path in paths.items())
    # a 404 will not pass: asked once; a 503 may: asked twice. Both for the first file only:
    # the mirror that served it is asked first for the next.
    assert server.requests == ["/missing/tiny-images-idx3-ubyte.gz",
                               "/busy/tiny-images-idx3-ubyte.gz",
                               "/busy/tiny-images-idx3-ubyte.gz",
                               "/good/tiny-images-idx3-ubyte.gz",
                               "/good/tiny-labels-idx1-ubyte.gz"]


def test_a_timeout_gets_a_second_try(server, tiny, tmp_path, monkeypatch, capsys):
    monkeypatch.setattr(download, "TIMEOUT_S", 0.1)  # the "slow" mirror waits 0.5 s
    with pytest.raises(MnistError):
        ensure_mnist(tmp_path, mirrors=[url(server, "slow")], progress=False, checksums=tiny)
    assert server.requests == ["/slow/tiny-images-idx3-ubyte.gz"] * 2
    failures = capsys.readouterr().err.splitlines()
    assert len(failures) == 2 and all("timed out" in line for line in failures)
    assert failures[0].endswith("; trying again in 0 s")


def test_when_every_mirror_fails_say_each_failure_once_then_what_to_do(server, tiny, tmp_path,
                                                                       capsys):
    data_dir = tmp_path / "data"
    refusing, missing = closed_port_url(), url(server, "missing")
    with pytest.raises(MnistError) as raised:
        ensure_mnist(data_dir, mirrors=[refusing, missing], progress=True, checksums=tiny)
    assert capsys.readouterr().err.splitlines() == [
        f"downloading 2 MNIST files into {data_dir.resolve()}",
        f"failed: {refusing}tiny-images-idx3-ubyte.gz: [Errno 111] Connection refused",
        f"failed: {missing}tiny-images-idx3-ubyte.gz: HTTP Error 404: Not Found",
    ]
    assert str(raised.value) == "\n".join([
        "could not download tiny-images-idx3-ubyte.gz: all 2 mirrors failed (see above).",
        "Get the MNIST files another way, then run again:",
        f"  - put these files in {data_dir.resolve()}:",
        "      tiny-images-idx3-ubyte.gz",
        "      tiny-labels-idx1-ubyte.gz",
        "  - or keep them in another directory and point MNIST_DATA_DIR (train.py: --data-dir) "
        "at it",
        "  - or set MNIST_MIRRORS to base URLs that serve them, comma-separated; http://, "
        "https:// and file:// all work, e.g. MNIST_MIRRORS=file:///home/me/mnist/",
    ])


@pytest.mark.parametrize("mode, words", [
    ("huge", "the response is 30,000,000 bytes, more than 20,000,000; not downloaded"),
    ("endless", "the response goes on past 20,000,000 bytes; aborted"),
])
def test_an_oversized_response_is_cut_off(server, tiny, tmp_path, capsys, mode, words):
    data_dir = tmp_path / "data"
    with pytest.raises(MnistError):
        ensure_mnist(data_dir, mirrors=[url(server, mode)], progress=False, checksums=tiny)
    assert words in capsys.readouterr().err
    assert list(data_dir.iterdir()) == []


@pytest.mark.parametrize("gibibytes", [1, 8])
def test_gzip_bomb_from_a_mirror_is_refused_in_little_memory(gzip_bombs, measured, tmp_path,
                                                            gibibytes):
    """A file:// mirror serves a 1 MB file that inflates to 1 GiB (and 8 MB to 8 GiB)."""
    mirror = gzip_bombs[gibibytes].parent.as_uri() + "/"
    output, errors, mib, seconds = measured(
        "from mnist.dataset import load_mnist\nfrom mnist.errors import MnistError",
        f"load_mnist({str(tmp_path)!r})", env={"MNIST_MIRRORS": mirror})
    assert errors.splitlines()[-1] == (  # the failure, said once as it happened
        f"failed: {mirror}train-images-idx3-ubyte.gz: the download: inflates to more than "
        f"{MAX_CONTENT_BYTES:,} bytes, the largest MNIST file is 47,040,016; rejected")
    assert output.splitlines()[0] == (  # then one clear error
        "could not download train-images-idx3-ubyte.gz: the mirror failed (see above).")
    assert mib < 16  # hashing the content as it inflates holds one chunk
    assert seconds < 5  # it stops early: inflating all of 8 GiB takes well over 10 s
    assert list(tmp_path.iterdir()) == []


def test_corrupt_existing_file_is_fetched_again(server, tiny, tmp_path, capsys):
    name = "tiny-images-idx3-ubyte.gz"
    (tmp_path / name).write_bytes(gzip.compress(b"garbage"))
    ensure_mnist(tmp_path, mirrors=[url(server, "good")], progress=False, checksums=tiny)
    assert (tmp_path / name).read_bytes() == server.files[name]
    assert f"{name}: SHA-256" in capsys.readouterr().err


def test_progress_goes_to_stderr(server, tiny, tmp_path, capsys):
    ensure_mnist(tmp_path, mirrors=[url(server, "good")], progress=True, checksums=tiny)
    captured = capsys.readouterr()
    assert "tiny-images-idx3-ubyte.gz" in captured.err
    assert captured.out == ""


def test_real_files_over_http(server, mnist_data_dir, tmp_path):
    for name in MNIST_SHA256:
        server.files[name] = (mnist_data_dir / name).read_bytes()
    paths = ensure_mnist(tmp_path, mirrors=[url(server, "good")], progress=False)
    assert sorted(paths) == sorted(MNIST_SHA256)
    assert verify_mnist(tmp_path) == paths


def test_verify_without_download_names_what_is_missing(tmp_path):
    with pytest.raises(MnistError) as raised:
        verify_mnist(tmp_path)
    message = str(raised.value)
    for name in MNIST_SHA256:
        assert f"{name}: missing" in message
    assert str(tmp_path.resolve()) in message


def test_settings_come_from_arguments_then_environment_then_defaults(monkeypatch, tmp_path):
    assert resolve_data_dir().as_posix() == "data/mnist"
    assert resolve_mirrors() == list(download.DEFAULT_MIRRORS)
    monkeypatch.setenv("MNIST_DATA_DIR", str(tmp_path))
    monkeypatch.setenv("MNIST_MIRRORS", " file:///srv/mnist, http://a.example/x\nhttps://b.example/ ")
    assert resolve_data_dir() == tmp_path
    assert resolve_data_dir("elsewhere").as_posix() == "elsewhere"
    assert resolve_mirrors() == ["file:///srv/mnist/", "http://a.example/x/", "https://b.example/"]
    assert resolve_mirrors(["http://c.example"]) == ["http://c.example/"]
    with pytest.raises(MnistError, match="ftp://d.example"):
        resolve_mirrors(["ftp://d.example/"])
    with pytest.raises(MnistError, match="no mirrors"):
        resolve_mirrors([])
