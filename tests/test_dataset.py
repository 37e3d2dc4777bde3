"""The dataset API on the real files: counts, caching, the validation split, batch order."""
from itertools import islice

import numpy as np
import pytest

from mnist.dataset import iterate_batches, load_mnist, split_validation
from mnist.errors import MnistError
from training import seeds

TRAIN_COUNTS = [5923, 6742, 5958, 6131, 5842, 5421, 5918, 6265, 5851, 5949]
TEST_COUNTS = [980, 1135, 1032, 1010, 982, 892, 958, 1028, 974, 1009]


def test_real_files_load_with_the_published_label_counts(mnist_data):
    assert mnist_data.train_images.shape == (60000, 28, 28)
    assert mnist_data.test_images.shape == (10000, 28, 28)
    for array in (mnist_data.train_images, mnist_data.train_labels,
                  mnist_data.test_images, mnist_data.test_labels):
        assert array.dtype == np.uint8
    assert np.bincount(mnist_data.train_labels).tolist() == TRAIN_COUNTS
    assert np.bincount(mnist_data.test_labels).tolist() == TEST_COUNTS
    # the published pixel mean of the training set, 33.318 / 255
    assert mnist_data.train_images.mean() == pytest.approx(33.318, abs=0.001)


def test_loading_twice_reads_once_and_the_arrays_are_read_only(mnist_data, mnist_data_dir):
    assert load_mnist(mnist_data_dir, download=False) is mnist_data
    with pytest.raises(ValueError):
        mnist_data.train_images[0, 0, 0] = 1


def test_without_download_missing_files_are_an_error(tmp_path):
    with pytest.raises(MnistError, match="train-images-idx3-ubyte.gz: missing"):
        load_mnist(tmp_path, download=False)


def test_validation_split_holds_out_the_last_fraction():
    images = np.arange(50 * 2).reshape(50, 2)
    labels = np.arange(50)
    train_images, train_labels, val_images, val_labels = split_validation(images, labels, 0.1)
    assert train_labels.tolist() == list(range(45))
    assert val_labels.tolist() == list(range(45, 50))
    np.testing.assert_array_equal(train_images, images[:45])
    np.testing.assert_array_equal(val_images, images[45:])


def test_validation_split_of_mnist(mnist_data):
    x_train, y_train, x_val, y_val = split_validation(mnist_data.train_images,
                                                      mnist_data.train_labels, 0.1)
    assert (len(x_train), len(y_train), len(x_val), len(y_val)) == (54000, 54000, 6000, 6000)
    np.testing.assert_array_equal(x_val, mnist_data.train_images[54000:])


def test_validation_split_of_zero_keeps_everything():
    _, train_labels, _, val_labels = split_validation(np.zeros((7, 2)), np.arange(7), 0.0)
    assert len(train_labels) == 7 and len(val_labels) == 0


@pytest.mark.parametrize("fraction", [-0.1, 1.0, 1.5])
def test_validation_fraction_must_be_below_one(fraction):
    with pytest.raises(ValueError, match="fraction"):
        split_validation(np.zeros((7, 2)), np.arange(7), fraction)


def test_batches_cover_every_index_once_per_epoch():
    batches = list(iterate_batches(103, 10, seeds.shuffling(1, 0)))
    assert [len(batch) for batch in batches] == [10] * 10 + [3]
    assert sorted(np.concatenate(batches).tolist()) == list(range(103))
    assert np.concatenate(batches).tolist() != list(range(103))  # shuffled


def test_batch_order_depends_only_on_seed_and_epoch():
    def order(seed, epoch):
        return np.concatenate(list(iterate_batches(1000, 64, seeds.shuffling(seed, epoch)))).tolist()

    assert order(3, 2) == order(3, 2)
    assert order(3, 2) != order(3, 1)
    assert order(3, 2) != order(4, 2)


def test_first_epoch_order_is_not_drawn_from_the_weights_stream():
    """mnist_cnn(seed) draws its weights from default_rng(seed); the shuffling must not repeat it."""
    order = np.concatenate(list(iterate_batches(1000, 64, seeds.shuffling(5, 0))))
    assert order.tolist() != np.random.default_rng(5).permutation(1000).tolist()


def test_resuming_mid_epoch_gives_the_same_remaining_batches():
    full = list(iterate_batches(500, 32, seeds.shuffling(7, 4)))
    resumed = list(islice(iterate_batches(500, 32, seeds.shuffling(7, 4)), 6, None))
    assert len(resumed) == len(full) - 6
    for expected, actual in zip(full[6:], resumed):
        np.testing.assert_array_equal(expected, actual)
