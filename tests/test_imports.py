"""Importing nncore changes nothing in the process; the textbook path needs no Numba; the
kernels' process settings are an explicit call. Each in a fresh Python."""
import os
import subprocess
import sys
from pathlib import Path

import pytest

REPO_ROOT = Path(__file__).resolve().parents[1]
KERNEL_MODULES = "[name for name in sys.modules if name.startswith('nncore.kernels.')]"
REFERENCE_PREDICTION = """
import sys
import numpy as np
import nncore.layers, nncore.model
model = nncore.model.mnist_cnn(0)
p = model.predict(np.zeros((2, 28, 28, 1), np.float32), reference=True)
assert p.shape == (2, 10)
"""


def python(code: str, **env: str) -> str:
    environment = {key: value for key, value in os.environ.items()
                   if key not in ("OPENBLAS_NUM_THREADS", "OMP_WAIT_POLICY")}  # unset, as in a fresh shell
    result = subprocess.run([sys.executable, "-c", code], cwd=REPO_ROOT, capture_output=True, text=True,
                            env={**environment, **env}, timeout=120)
    assert result.returncode == 0, result.stderr
    return result.stdout.strip()


def test_the_textbook_path_loads_no_kernel():
    """Predicting with reference=True imports no kernel module at all."""
    loaded = python(REFERENCE_PREDICTION + f"print({KERNEL_MODULES})")
    assert eval(loaded) == [], loaded


def test_the_textbook_path_needs_no_numba():
    assert python(REFERENCE_PREDICTION + "print('numba' in sys.modules)") == "False"


def test_reading_one_image_with_a_model_file_needs_no_numba_nor_numpy_random():
    """What `python evaluate.py one.png` does: load a model file, read an image, predict; no
    random number is drawn, so numpy.random (15 ms of imports) stays out too."""
    code = ("import sys, evaluate; status = evaluate.main(['examples/two_photo.jpg']); "
            "print(status, 'numba' in sys.modules, 'numpy.random' in sys.modules)")
    assert python(code).splitlines()[-1] == "0 False False"


def test_importing_nncore_changes_no_setting():
    code = "import os, nncore, nncore.gradcheck; print(os.environ.get('OPENBLAS_NUM_THREADS'))"
    assert python(code) == "None"


@pytest.mark.parametrize("own, expected", [(None, "1"), ("3", "3")])
def test_configure_for_kernels_keeps_the_users_own_blas_threads(own, expected):
    code = ("import os; from nncore.runtime import configure_for_kernels; configure_for_kernels(); "
            "print(os.environ['OPENBLAS_NUM_THREADS'])")
    assert python(code, **({} if own is None else {"OPENBLAS_NUM_THREADS": own})) == expected


@pytest.mark.parametrize("own, expected", [(None, "PASSIVE"), ("ACTIVE", "ACTIVE")])
def test_configure_for_kernels_makes_waiting_threads_sleep_unless_told_otherwise(own, expected):
    code = ("import os; from nncore.runtime import configure_for_kernels; configure_for_kernels(); "
            "print(os.environ['OMP_WAIT_POLICY'])")
    assert python(code, **({} if own is None else {"OMP_WAIT_POLICY": own})) == expected
