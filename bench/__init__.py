"""The benchmark: how fast our CNN trains and predicts, measured beside PyTorch and Keras on the same machine.

Run `python -m bench` from the repository root (`--quick` for a short check that it works); it
prints a table and writes docs/PERFORMANCE.md. Each measurement runs in a fresh Python process
(bench/runner.py), one at a time, so the frameworks never share threads, imports or memory.
PyTorch (`pip install -e '.[bench]'`) is imported only in bench/torch_side.py, TensorFlow / Keras
(`pip install -e '.[keras]'`) only in bench/keras_side.py, each only when installed; the product
itself never imports either. bench/user_level.py times whole commands as a user runs them.
"""
