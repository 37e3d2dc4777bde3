"""A real `python serve.py` for the tests: started on a free loopback port, stopped with Ctrl-C.

`running_server()` starts serve.py in a child process with `--port 0`, waits for the line that
gives its URL, and on leaving sends SIGINT, as Ctrl-C does, and checks that the server stopped
cleanly (exit status 0, "stopped", no traceback). Its console output is kept in files, read
with `Server.console()`, so that a test can check that nothing a client did reached it.
"""
import http.client
import io
import re
import signal
import subprocess
import sys
import time
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

from PIL import Image, ImageDraw

REPO = Path(__file__).resolve().parents[1]
START_SECONDS = 180   # the first start on a machine compiles the kernels (one to two minutes here)


@dataclass
class Server:
    url: str
    port: int
    process: subprocess.Popen
    out: Path
    err: Path

    def console(self) -> str:
        """Everything the server printed so far, stdout then stderr."""
        return self.out.read_text() + self.err.read_text()

    def post(self, path: str, body: bytes, headers: dict | None = None) -> tuple:
        """POST body to path on a fresh connection -> (status, headers, body bytes)."""
        return self.request("POST", path, body, headers)

    def request(self, method: str, path: str, body: bytes | None = None,
                headers: dict | None = None) -> tuple:
        connection = http.client.HTTPConnection("127.0.0.1", self.port, timeout=60)
        try:
            connection.request(method, path, body=body, headers=headers or {})
            response = connection.getresponse()
            return response.status, response.headers, response.read()
        finally:
            connection.close()


@contextmanager
def running_server(tmp_path: Path, *args: str):
    """`python serve.py --port 0 *args` -> a Server; stopped by SIGINT on leaving."""
    out, err = tmp_path / "serve.out", tmp_path / "serve.err"
    with out.open("w") as stdout, err.open("w") as stderr:
        process = subprocess.Popen([sys.executable, "serve.py", "--port", "0", *args], cwd=REPO,
                                   stdout=stdout, stderr=stderr, text=True)
    try:
        deadline = time.monotonic() + START_SECONDS
        while not (found := re.search(r"serving on (http://127\.0\.0\.1:(\d+)/)", out.read_text())):
            assert process.poll() is None, f"serve.py exited {process.returncode}: {err.read_text()}"
            assert time.monotonic() < deadline, f"serve.py did not start: {err.read_text()}"
            time.sleep(0.1)
        yield Server(found[1], int(found[2]), process, out, err)
    finally:
        if process.poll() is None:
            process.send_signal(signal.SIGINT)
        try:
            status = process.wait(timeout=20)
        except subprocess.TimeoutExpired:
            process.kill()
            raise
    console = out.read_text() + err.read_text()
    assert status == 0 and "stopped" in out.read_text(), console
    assert "Traceback" not in console, console


def drawn_seven() -> bytes:
    """A PNG like the page sends: a dark marker 7 on its white, opaque 280x280 RGBA canvas."""
    image = Image.new("RGBA", (280, 280), (255, 255, 255, 255))
    ImageDraw.Draw(image).line([(70, 65), (212, 65), (128, 232)], fill=(17, 17, 17, 255), width=18,
                               joint="curve")
    return png(image)


def png(image: Image.Image) -> bytes:
    buffer = io.BytesIO()
    image.save(buffer, "PNG")
    return buffer.getvalue()
