"""mnist: the data side of the project.

    idx.py        read and write the raw IDX files, validating every byte count
    download.py   fetch the four files from public mirrors, verify SHA-256, write atomically
    dataset.py    load train/test once, hold out a validation split, shuffled batches per epoch
    normalize.py  uint8 pixels -> the float32 (N, 28, 28, 1) input training and inference share
    augment.py    random shifts, rotations and scalings of training images (a Numba kernel)
    preprocess.py bring a person's image of a digit into MNIST's form
    ink.py        find the digit's ink in that image: paper subtracted, noise and specks dropped
    errors.py     MnistError, the one exception type, with messages meant for the user
"""
