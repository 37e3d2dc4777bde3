"""The one exception type of the `mnist` package.

Every problem with the data or with a user's image (a truncated IDX file, a failed download,
a PNG that is not an image, a blank page with no digit) raises `MnistError` with a message that
names the file and says what is wrong. The command-line tools print that message without a
traceback and exit non-zero.
"""


class MnistError(Exception):
    """A problem with MNIST data or an input image, described for the user."""
