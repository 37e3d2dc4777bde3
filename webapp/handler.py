"""The HTTP side of serve.py: the page's files, the two endpoints, and a JSON answer to every
mistake.

    GET  /                the page, page/index.html; GET /page.js etc.: the other files of page/
    POST /api/read        the body an image file -> what `evaluate.py --json` says of it
    POST /api/explain     the body an image file -> one digit's activations, filters, saliency

Any other path is a 404 and any other method a 405. A body must come with its Content-Length
(411 without), hold something (400 when empty) and be at most MAX_BODY bytes (413); a body that
is not an image the server can decode is a 422 (webapp/endpoints.py, which also says why an
image without a digit is not an error). Every such answer is JSON, {"error": "..."}, and
nothing of it reaches the console. Only a bug of ours is a 500, with one line on the console.

The server is the standard library's ThreadingHTTPServer: a thread per connection, and HTTP/1.1
keep-alive, so that a page sending a request every tenth of a second while someone draws keeps
one connection. It is enough here: the work of a request (decoding, finding the digit, the
network) takes milliseconds and a lock keeps the network to one pass at a time anyway, so an
asynchronous framework would buy nothing but a dependency. Each answer from an endpoint says in
its `Server-Timing` header how long the server took, from the body read to the answer ready
(`app`, in ms), and how much of that its thread computed (`cpu`; the rest it waited, for the
lock or for a core on a busy machine): `Server-Timing: app;dur=9.81, cpu;dur=9.64`.
"""
import json
import sys
import time
from http import HTTPStatus
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from urllib.parse import parse_qs, urlsplit

from webapp import endpoints
from webapp.endpoints import RequestError

PAGE = Path(__file__).resolve().parents[1] / "page"
TYPES = {".html": "text/html; charset=utf-8", ".css": "text/css; charset=utf-8",
         ".js": "text/javascript; charset=utf-8"}
MAX_BODY = 10_000_000   # bytes: 10 MB
DRAIN_MAX = 64 << 20    # a longer body is refused at once, without reading it first
ENDPOINTS = {
    "/api/read": lambda network, data, query: endpoints.read(network, data),
    "/api/explain": endpoints.explain,
}
# The page may load its own files and nothing else: no request to any other site.
POLICY = "default-src 'self'; img-src 'self' blob: data:; base-uri 'none'; form-action 'none'"


def page_files() -> dict:
    """URL path -> file, for the files of page/ the page consists of; "/" is index.html."""
    files = {f"/{path.name}": path for path in PAGE.iterdir() if path.suffix in TYPES}
    files["/"] = PAGE / "index.html"
    return files


class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server_version = "serve.py"
    timeout = 30   # seconds a connection may stay silent, mid-request or between requests

    def do_GET(self) -> None:
        path = urlsplit(self.path).path
        if path in ENDPOINTS:
            return self.refuse(405, f"{path} takes POST, with an image file as the body", "POST")
        file = self.server.files.get(path)
        if file is None:
            return self.refuse(404, f"no such page: {path}")
        self.answer(200, TYPES[file.suffix], file.read_bytes(), {"Cache-Control": "no-cache"})

    do_HEAD = do_GET

    def do_POST(self) -> None:
        url = urlsplit(self.path)
        endpoint = ENDPOINTS.get(url.path)
        try:
            if endpoint is None:
                if url.path in self.server.files:
                    raise RequestError(405, f"{url.path} is a page: GET it")
                raise RequestError(404, f"no such endpoint: {url.path} (POST /api/read or /api/explain)")
            data = self.body()
        except RequestError as error:
            self.close_connection = True   # the rest of the request is not read
            return self.refuse(error.status, str(error), "GET, HEAD" if error.status == 405 else None)
        try:
            started, cpu = time.perf_counter(), time.thread_time()
            text = endpoint(self.server.network, data, parse_qs(url.query))
        except RequestError as error:
            return self.refuse(error.status, str(error))
        except Exception as error:   # a bug of ours, never the client's fault: one line, go on
            print(f"serve.py: internal error in {url.path}: {type(error).__name__}: {error}",
                  file=sys.stderr)
            return self.refuse(500, f"internal error ({type(error).__name__}: {error}); please report")
        took, cpu = 1000 * (time.perf_counter() - started), 1000 * (time.thread_time() - cpu)
        timing = f"app;dur={took:.2f}, cpu;dur={cpu:.2f}"
        self.answer(200, "application/json", text.encode(), {"Server-Timing": timing})

    def body(self) -> bytes:
        """The request's body, or a RequestError: no Content-Length, empty, too long, cut short."""
        length = self.headers.get("Content-Length")
        if length is None or "chunked" in self.headers.get("Transfer-Encoding", "").lower():
            raise RequestError(411, "send the image with a Content-Length header")
        if not (length.isascii() and length.isdigit()):
            raise RequestError(400, f"Content-Length {length!r} is not a number of bytes")
        size = int(length)
        if size > MAX_BODY:
            self.drain(size)
            raise RequestError(413, f"the body is {size:,} bytes; at most {MAX_BODY:,} are taken")
        if size == 0:
            raise RequestError(400, "the body is empty: send an image file")
        data = self.rfile.read(size)
        if len(data) < size:
            raise RequestError(400, f"the body ended after {len(data):,} of its {size:,} bytes")
        return data

    def drain(self, size: int) -> None:
        """Read a refused body and drop it, so that the client, still sending, gets to read the
        answer; a very long one is not waited for (the connection closes after the answer)."""
        while 0 < size <= DRAIN_MAX:
            chunk = self.rfile.read(min(size, 1 << 16))
            if not chunk:
                break
            size -= len(chunk)

    def handle_expect_100(self) -> bool:
        """A client that asks first (curl does, for a large body) hears 413 before sending it."""
        length = self.headers.get("Content-Length", "")
        if length.isascii() and length.isdigit() and int(length) > MAX_BODY:
            self.close_connection = True
            self.refuse(413, f"the body is {int(length):,} bytes; at most {MAX_BODY:,} are taken")
            return False
        return super().handle_expect_100()

    def refuse(self, status: int, message: str, allow: str | None = None) -> None:
        self.answer(status, "application/json", json.dumps({"error": message}).encode(),
                    {"Allow": allow} if allow else {})

    def answer(self, status: int, content_type: str, data: bytes, headers: dict) -> None:
        self.send_response(status)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(data)))
        self.send_header("Content-Security-Policy", POLICY)
        self.send_header("X-Content-Type-Options", "nosniff")
        for name, value in headers.items():
            self.send_header(name, value)
        if self.close_connection:
            self.send_header("Connection", "close")
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(data)

    def send_error(self, code: int, message: str | None = None, explain: str | None = None) -> None:
        """http.server's own refusals (a malformed request line, headers too long, a method with
        no do_ method here) in JSON too. It answers that last one 501 Not Implemented; it is a
        405 here, a method this server does not take."""
        self.close_connection = True
        if code == HTTPStatus.NOT_IMPLEMENTED:
            return self.refuse(405, f"method {self.command} not taken (GET the page, POST an image)",
                               "GET, HEAD, POST")
        self.refuse(code, message or HTTPStatus(code).phrase)

    def log_message(self, format: str, *args) -> None:
        """Quiet: a line per request would flood the console while someone draws."""


class Server(ThreadingHTTPServer):
    daemon_threads = True      # Ctrl-C does not wait for the open keep-alive connections
    request_queue_size = 128   # connections waiting to be accepted (the default 5 drops some)

    def __init__(self, address: tuple, network) -> None:
        super().__init__(address, Handler)
        self.network = network
        self.files = page_files()

    def handle_error(self, request, client_address) -> None:
        """An exception out of a handler: the client went away mid-answer (nothing to say), or
        something else, said in one line instead of http.server's traceback."""
        error = sys.exc_info()[1]
        if not isinstance(error, (ConnectionError, TimeoutError)):
            print(f"serve.py: error while answering {client_address[0]}: {type(error).__name__}: "
                  f"{error}", file=sys.stderr)
