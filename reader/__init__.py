"""reader: read the handwritten digits in people's images, the way MNIST's digits were made.

    preprocess.py  one digit: any image file -> a 28x28 digit like MNIST's (open_image, preprocess)
    ink.py         find the ink in that image: paper and uneven light subtracted, specks dropped
    errors.py      ImageError, with messages meant for the user

    from reader.preprocess import open_image, preprocess
    digit = preprocess(open_image("seven.png"), name="seven.png")   # uint8 (28, 28)

The network (nncore/) then reads `mnist.normalize.to_model_input(digit)`.
"""
