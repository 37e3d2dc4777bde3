"""The one exception type of the `reader` package.

Every problem with a person's image (a file that is not an image, a truncated JPEG, a page with
no digit, a picture too small or too thin to hold one) raises `ImageError` with a message that
starts with the image's name and says what is wrong. evaluate.py prints it as that image's error
line and goes on with the others.
"""


class ImageError(Exception):
    """A problem with an input image, described for the user."""
