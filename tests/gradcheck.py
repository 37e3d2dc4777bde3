"""The numerical gradient's old home: it is now nncore/gradcheck.py (import it from there)."""
from nncore.gradcheck import max_relative_error, numerical_gradient  # noqa: F401
