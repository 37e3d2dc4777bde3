"""python -m bench.load_test [--clients 20] [--requests 50] [--endpoint read|explain|page] [--url URL]

How fast serve.py answers, on this machine's loopback only. Without --url it starts its own
server (`python serve.py --port 0`, the shipped model) and stops it with Ctrl-C's signal at the
end; --url points it at one already running here instead.

Two measurements, with the body the page sends, a 280x280 PNG of a drawn 7:

1. Latency at the server: one client asks SEQUENTIAL times in a row on one connection, for each
   endpoint, and the server's own `Server-Timing` header says how long each answer took, from
   the body read to the answer ready (the issue's goals: /api/read at most 15 ms median,
   /api/explain at most 50 ms), and how much of it the server's thread computed: on a busy
   machine the rest is time spent waiting for a core.
2. Load: --clients threads, each with its own keep-alive connection, send --requests requests
   each, all at once: p50 and p99 of the time each waited (as the client sees it, network and
   queueing included), the requests answered per second, and the errors: any answer that is not
   a 200 whose JSON reads the 7. `--endpoint page` alternates /api/read and /api/explain, as the
   page does while someone draws.

A bounded run: it ends after SEQUENTIAL x 2 + clients x requests requests. Exit status 1 when
any request failed.
"""
import argparse
import http.client
import io
import json
import statistics
import sys
import threading
import time
from urllib.parse import urlsplit

from PIL import Image, ImageDraw

SEQUENTIAL = 100
LOOPBACK = ("127.0.0.1", "localhost", "::1")
PATHS = {"read": ["/api/read"], "explain": ["/api/explain"], "page": ["/api/read", "/api/explain"]}


def drawn_seven() -> bytes:
    """What the page sends: a dark marker 7 on the pad's opaque white 280x280 canvas, a PNG."""
    image = Image.new("RGBA", (280, 280), (255, 255, 255, 255))
    ImageDraw.Draw(image).line([(70, 65), (212, 65), (128, 232)], fill=(17, 17, 17, 255), width=18,
                               joint="curve")
    buffer = io.BytesIO()
    image.save(buffer, "PNG")
    return buffer.getvalue()


def timing(header: str) -> dict:
    """"app;dur=9.81, cpu;dur=9.64" -> {"app": 9.81, "cpu": 9.64}."""
    entries = (entry.strip().partition(";dur=") for entry in header.split(","))
    return {name: float(value) for name, _, value in entries}


def ask(connection, path: str, body: bytes) -> tuple:
    """One request on a keep-alive connection -> (seconds waited, the server's Server-Timing
    {"app": ms, "cpu": ms}, error or None)."""
    started = time.perf_counter()
    try:
        connection.request("POST", path, body=body)
        response = connection.getresponse()
        answer = response.read()
        waited = time.perf_counter() - started
        if response.status != 200:
            return waited, None, f"{path}: HTTP {response.status} {answer[:200]!r}"
        if json.loads(answer).get("digit") != 7:
            return waited, None, f"{path}: read {answer[:200]!r}, not the 7"
        return waited, timing(response.headers["Server-Timing"]), None
    except (OSError, http.client.HTTPException, ValueError, KeyError) as error:
        connection.close()   # the next request opens a fresh connection
        return time.perf_counter() - started, None, f"{path}: {type(error).__name__}: {error}"


def server_latency(host: str, port: int, body: bytes) -> dict:
    """path -> the server's timings ({"app": ms, "cpu": ms}) of SEQUENTIAL requests, one after
    another."""
    times = {}
    connection = http.client.HTTPConnection(host, port, timeout=60)
    for path in PATHS["page"]:
        ask(connection, path, body)   # one unmeasured: the connection opened, caches warm
        times[path] = [ask(connection, path, body)[1] for _ in range(SEQUENTIAL)]
    connection.close()
    return times


def load(host: str, port: int, body: bytes, clients: int, requests: int, paths: list) -> tuple:
    """All clients at once -> (waits in seconds, the server's app ms, errors, wall seconds)."""
    waits, server_ms, errors, lock = [], [], [], threading.Lock()
    start = threading.Barrier(clients + 1)

    def client() -> None:
        connection = http.client.HTTPConnection(host, port, timeout=60)
        start.wait()
        mine = [ask(connection, paths[k % len(paths)], body) for k in range(requests)]
        connection.close()
        with lock:
            for waited, ms, error in mine:
                waits.append(waited)
                if error:
                    errors.append(error)
                else:
                    server_ms.append(ms["app"])

    threads = [threading.Thread(target=client) for _ in range(clients)]
    for thread in threads:
        thread.start()
    start.wait()
    began = time.perf_counter()
    for thread in threads:
        thread.join()
    return waits, server_ms, errors, time.perf_counter() - began


def percentile(values: list, q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(q * (len(ordered) - 1)))]


def run(host: str, port: int, args) -> int:
    body = drawn_seven()
    print(f"serve.py on {host}:{port}, the body a {len(body):,}-byte 280x280 PNG of a drawn 7")
    print(f"\nlatency at the server (Server-Timing), {SEQUENTIAL} requests one after another:")
    for path, timings in server_latency(host, port, body).items():
        goal = 15 if path == "/api/read" else 50
        app, cpu = [t["app"] for t in timings], [t["cpu"] for t in timings]
        print(f"  {path:<13} median {statistics.median(app):6.2f} ms   p90 {percentile(app, 0.9):6.2f} ms"
              f"   (its thread computing: median {statistics.median(cpu):6.2f} ms)   goal: median at "
              f"most {goal} ms")
    paths = PATHS[args.endpoint]
    waits, server_ms, errors, wall = load(host, port, body, args.clients, args.requests, paths)
    print(f"\nload: {args.clients} clients x {args.requests} requests to {' and '.join(paths)}, all at once:")
    print(f"  p50 {1000 * percentile(waits, 0.5):7.1f} ms   p99 {1000 * percentile(waits, 0.99):7.1f} ms   "
          f"{len(waits) / wall:6.1f} requests/s   errors {len(errors)}   "
          f"(server's median {statistics.median(server_ms) if server_ms else float('nan'):.1f} ms)")
    for error in errors[:5]:
        print(f"  error: {error}")
    return 1 if errors else 0


def own_server():
    """serve.py started here on a free loopback port -> (process, port)."""
    import re
    import subprocess
    from pathlib import Path
    repo = Path(__file__).resolve().parents[1]
    process = subprocess.Popen([sys.executable, "serve.py", "--port", "0"], cwd=repo,
                               stdout=subprocess.PIPE, text=True)
    for line in process.stdout:
        found = re.search(r"serving on http://127\.0\.0\.1:(\d+)/", line)
        if found:
            return process, int(found[1])
    process.wait()
    raise SystemExit(f"serve.py did not start (exit status {process.returncode})")


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description="How fast serve.py answers, on this machine's loopback.")
    parser.add_argument("--clients", type=int, default=20, help="clients at once (default 20)")
    parser.add_argument("--requests", type=int, default=50, help="requests per client (default 50)")
    parser.add_argument("--endpoint", choices=sorted(PATHS), default="read",
                        help="what the clients ask: read, explain, or page (both, in turn; default read)")
    parser.add_argument("--url", help="a serve.py already running on this machine (default: start one)")
    args = parser.parse_args(argv)
    if args.clients < 1 or args.requests < 1:
        parser.error("--clients and --requests must be at least 1")
    if args.url is None:
        import signal
        process, port = own_server()
        try:
            return run("127.0.0.1", port, args)
        finally:
            process.send_signal(signal.SIGINT)
            process.wait(timeout=30)
    url = urlsplit(args.url)
    if url.hostname not in LOOPBACK or url.port is None:
        parser.error(f"--url must name a port on this machine's loopback ({', '.join(LOOPBACK)}), "
                     f"got {args.url!r}")
    return run(url.hostname, url.port, args)


if __name__ == "__main__":
    sys.exit(main())
