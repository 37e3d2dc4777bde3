"""mnist: the MNIST dataset (reading people's own images is reader/'s job).

    idx.py        read and write the raw IDX files, validating every byte count
    download.py   fetch the four files from public mirrors, verify SHA-256, write atomically
    dataset.py    load train/test once, hold out a validation split, shuffled batches per epoch
    normalize.py  uint8 pixels -> the float32 (N, 28, 28, 1) input training and inference share
    augment.py    random shifts, rotations and scalings of training images (a Numba kernel)
    errors.py     MnistError, the package's one exception type, with messages meant for the user
"""
