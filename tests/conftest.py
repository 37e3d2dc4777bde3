"""Shared fixtures: the real MNIST files, fetched by the project's own download code.

The files come from `<repo>/../shared/mnist`, served as a file:// mirror through
MNIST_MIRRORS, exactly as a user's mirror would be. They are never copied into the repository:
`ensure_mnist` puts them in a temporary directory for the test session.
"""
from pathlib import Path

import pytest

from mnist.dataset import load_mnist
from mnist.download import ensure_mnist

SHARED_MNIST = Path(__file__).resolve().parents[1].parent / "shared" / "mnist"


@pytest.fixture(scope="session")
def shared_mnist_dir() -> Path:
    """`<repo>/../shared/mnist`, which holds the four real MNIST files."""
    if not SHARED_MNIST.is_dir():
        pytest.fail(
            f"the real MNIST files are expected in {SHARED_MNIST} (a directory 'shared/mnist' "
            f"beside the repository, holding the four *-ubyte.gz files); it does not exist"
        )
    return SHARED_MNIST


@pytest.fixture(scope="session")
def mnist_data_dir(shared_mnist_dir, tmp_path_factory) -> Path:
    """A temporary data directory filled by `ensure_mnist` from the file:// mirror."""
    data_dir = tmp_path_factory.mktemp("mnist")
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("MNIST_MIRRORS", shared_mnist_dir.as_uri() + "/")
        ensure_mnist(data_dir, progress=False)
    return data_dir


@pytest.fixture(scope="session")
def mnist_data(mnist_data_dir):
    """The real MNIST arrays, loaded once for the session."""
    return load_mnist(mnist_data_dir, download=False)
