"""reader: read the handwritten digits in people's images, the way MNIST's digits were made.

    preprocess.py  one digit: any image file -> a 28x28 digit like MNIST's (open_image, preprocess)
    segment.py     a number: every digit of a picture, left to right, each as preprocess makes it
    clutter.py     what is no digit: ruled lines, a box drawn round the number, faint strokes
    split.py       touching digits cut apart, by how confidently the network reads the parts
    answers.py     evaluate.py's answer for an image: its text line, its JSON, its annotated copy
    ink.py         find the ink in that image: paper and uneven light subtracted, specks dropped
    errors.py      ImageError, with messages meant for the user

    from reader.preprocess import open_image, preprocess
    digit = preprocess(open_image("seven.png"), name="seven.png")   # uint8 (28, 28)

The network (nncore/) then reads `mnist.normalize.to_model_input(digit)`.
"""
