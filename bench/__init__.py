"""The benchmark: how fast our CNN trains and predicts, measured beside PyTorch on the same machine.

Run `python -m bench` from the repository root (`--quick` for a short check that it works); it
prints a table and writes docs/PERFORMANCE.md. Each measurement runs in a fresh Python process
(bench/runner.py), one at a time, so the two frameworks never share threads, imports or memory.
PyTorch (`pip install -e '.[bench]'`) is imported only in bench/torch_side.py, and only when
installed; the product itself never imports it.
"""
