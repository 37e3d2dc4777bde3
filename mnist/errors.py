"""The one exception type of the `mnist` package.

Every problem with the data (a truncated IDX file, a failed download, a checksum that does not
match) raises `MnistError` with a message that names the file and says what is wrong. The
command-line tools print that message without a traceback and exit non-zero. (A problem with a
person's own image is reader/'s `ImageError`.)
"""


class MnistError(Exception):
    """A problem with the MNIST data, described for the user."""
