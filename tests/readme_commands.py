"""Run the README's two commands on a fresh clone, as a new user would, and print a transcript.

    python tests/readme_commands.py [--keep] [--python python3.13]

The clone goes into a temporary directory with no `../shared` beside it, so the only way to
MNIST is the project's own download: MNIST_MIRRORS points at a loopback HTTP server that this
script starts, serving the four files from `<repo>/../shared/mnist` (or $MNIST_COPY). The two
commands are read from README.md itself (the first two ```bash blocks), so what is checked is
what the README says; `--python` runs them with another interpreter in place of `python3`.
Exit status 0 when both commands pass. It takes about ten minutes (the
first command trains the full model), so it is not part of the pytest suite.
"""
import argparse
import functools
import http.server
import os
import re
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]


def readme_commands() -> list[str]:
    """The first two ```bash blocks of README.md: install-and-run, then the tests."""
    blocks = re.findall(r"```bash\n(.*?)```", (REPO / "README.md").read_text(), re.DOTALL)
    return [block.strip() for block in blocks[:2]]


class QuietHandler(http.server.SimpleHTTPRequestHandler):
    def log_message(self, *args):   # no line per request
        pass


def serve(directory: Path) -> http.server.ThreadingHTTPServer:
    """An HTTP server on a free loopback port, serving `directory`, in a background thread."""
    handler = functools.partial(QuietHandler, directory=str(directory))
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    return server


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--keep", action="store_true", help="keep the clone afterwards")
    parser.add_argument("--python", default="python3",
                        help="the interpreter that makes the virtual environment (default python3)")
    args = parser.parse_args()
    copy = Path(os.environ.get("MNIST_COPY", REPO.parent / "shared" / "mnist"))
    if not (copy / "train-images-idx3-ubyte.gz").is_file():
        print(f"error: no MNIST copy to serve in {copy} (set MNIST_COPY)", file=sys.stderr)
        return 2
    server = serve(copy)
    root = Path(tempfile.mkdtemp(prefix="fresh-clone-"))
    clone = root / "mnist-from-scratch"
    subprocess.run(["git", "clone", "-q", str(REPO), str(clone)], check=True)
    env = {key: value for key, value in os.environ.items()
           if not key.startswith(("MNIST_", "VIRTUAL_ENV", "PYTHON"))}
    env["MNIST_MIRRORS"] = f"http://127.0.0.1:{server.server_address[1]}/"
    print(f"fresh clone: {clone} (no ../shared beside it); MNIST_MIRRORS={env['MNIST_MIRRORS']}")
    failed = False
    for command in readme_commands():
        command = command.replace("python3 -m venv", f"{args.python} -m venv", 1)
        print(f"\n$ {command}", flush=True)
        started = time.monotonic()
        result = subprocess.run(["bash", "-c", command], cwd=clone, env=env, text=True,
                                stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
        # Every line but pip's chatter and the progress bars' redraws, which end in "]".
        lines = [line for line in result.stdout.replace("\r", "\n").splitlines()
                 if line.strip() and not line.startswith(("  ", "Requirement", "Collecting",
                                                           "Downloading", "Processing", "WARNING"))
                 and not line.rstrip().endswith("]")]
        print("\n".join(f"  {line}" for line in lines[-60:]))
        print(f"-> exit status {result.returncode} after {time.monotonic() - started:.0f} s", flush=True)
        failed |= result.returncode != 0
    server.shutdown()
    if not args.keep:
        subprocess.run(["rm", "-rf", str(root)], check=False)
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
