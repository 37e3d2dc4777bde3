"""Draw a digit and watch the network read it: a web page on this machine.

    python serve.py                        # then open http://127.0.0.1:8000/
    python serve.py --port 8080 --model models/mnist_cnn.npz
    python serve.py --host 0.0.0.0         # reachable from other machines too (a phone beside you)

The page (page/: plain HTML, CSS and JavaScript, nothing fetched from any other site) lets you
draw with a mouse, a finger or a pen, or drop an image file, and shows the answer as you draw:
the ten probabilities, the 28x28 image the network saw, and inside the network, each layer's
output, the first layer's filters and the saliency map, each captioned with the file of nncore/
that computes it. The page asks the server through two JSON endpoints, POST /api/read and POST
/api/explain, which other programs may use too (README: "Draw a digit in the browser").

Only this machine can reach the page unless --host says otherwise. Ctrl-C stops the server.
Exit status: 0 stopped by Ctrl-C, 2 for a usage error, an unusable model file or an address
that cannot be served.
"""
import argparse
import os
import sys
from pathlib import Path


def parse_args(argv):
    parser = argparse.ArgumentParser(
        description="Serve a web page to draw digits on and watch the network read them, layer by layer.",
        epilog="Exit status: 0 stopped by Ctrl-C, 2 usage error, unusable model or address.",
        allow_abbrev=False)
    parser.add_argument("--host", default="127.0.0.1",
                        help="the IPv4 address to listen on (default 127.0.0.1: only this machine "
                             "can open the page; 0.0.0.0: every machine that can reach this one)")
    parser.add_argument("--port", type=int, default=8000,
                        help="the TCP port to listen on (default 8000; 0: any free port, printed)")
    parser.add_argument("--model", type=Path,
                        help="the model file to use, a model or a training checkpoint (default: "
                             "models/mnist_cnn.npz if `python train.py` made one, else the shipped "
                             "models/shipped/mnist_cnn.npz)")
    args = parser.parse_args(argv)
    if not 0 <= args.port <= 65535:
        parser.error("--port must be between 0 and 65535")
    return args


def main(argv=None):
    args = parse_args(argv)
    # One image's small matrices gain nothing from BLAS threads, which on a busy machine only
    # wait for one another: NumPy's BLAS single-threaded too, set before NumPy loads it (as
    # configure_for_kernels below does for the kernels' BLAS, loaded later).
    os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")
    from evaluate import SHIPPED_MODEL, TRAINED_MODEL, printable
    from nncore import ModelFileError, load_model
    from nncore.runtime import configure_for_kernels
    from webapp.handler import Server
    from webapp.network import Network

    if args.model is None:
        args.model = TRAINED_MODEL if TRAINED_MODEL.is_file() else SHIPPED_MODEL
    try:
        model = load_model(args.model)
    except ModelFileError as error:
        print(f"error: {printable(str(error))}", file=sys.stderr)
        return 2
    network = Network(model)
    try:
        server = Server((args.host, args.port), network)
    except (OSError, OverflowError) as error:
        why = getattr(error, "strerror", None) or error
        print(f"error: cannot serve on {printable(args.host)} port {args.port} ({why})", file=sys.stderr)
        return 2
    configure_for_kernels()   # before the first kernel loads BLAS
    print(f"model {printable(args.model)}; loading its kernels (compiling them, the first time "
          "on a machine: one to two minutes)", file=sys.stderr, flush=True)
    network.warm_up()
    host, port = server.server_address[:2]
    shown = "127.0.0.1" if host == "0.0.0.0" else host
    print(f"serving on http://{shown}:{port}/  (Ctrl-C stops)", flush=True)
    try:
        server.serve_forever()
    except KeyboardInterrupt:
        print("stopped", flush=True)
    finally:
        server.server_close()
    return 0


if __name__ == "__main__":
    try:
        sys.exit(main())
    except KeyboardInterrupt:   # during the start, before the server runs
        print("interrupted", file=sys.stderr)
        sys.exit(130)
