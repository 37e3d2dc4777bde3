"""The augmentation kernel: exact where the answer is exact, deterministic for a seed, and the
affine maps turn, scale and shift about the image centre the way the formulas say."""
import numpy as np
import pytest

from mnist.augment import GRID, augment_batch, inverse_maps, warp_batch


@pytest.fixture(scope="module")
def images():
    """A batch of 16 random 'images' in [0, 1], float32 (16, 28, 28, 1)."""
    return np.random.default_rng(0).random((16, 28, 28, 1), dtype=np.float32)


def no_fields(n, dtype=np.float32):
    """Elastic displacement fields of zero: the affine map alone."""
    return np.zeros((n, 2, GRID, GRID), dtype)


def warp(images, theta_degrees=0.0, scale=1.0, shift=(0.0, 0.0), fields=None):
    """Apply one affine map (the same for every image) with the kernel."""
    n = len(images)
    maps = inverse_maps(np.full(n, np.deg2rad(theta_degrees)), np.full(n, scale),
                        np.tile(np.asarray(shift, np.float64), (n, 1)), images.shape[1:3])
    out = np.empty_like(images)
    warp_batch(images, maps.astype(images.dtype), no_fields(n) if fields is None else fields, out)
    return out


def test_zero_parameters_give_the_identity_exactly(images):
    assert np.array_equal(warp(images), images)
    unchanged = augment_batch(images, np.random.default_rng(1), max_shift=0.0, max_rotation=0.0,
                              max_scale=0.0)
    assert np.array_equal(unchanged, images)


@pytest.mark.parametrize("dy, dx", [(2, -3), (-1, 0), (0, 4)])
def test_integer_shift_is_a_roll_with_zero_fill(images, dy, dx):
    expected = np.roll(images, (dy, dx), axis=(1, 2))
    if dy > 0:
        expected[:, :dy] = 0
    elif dy < 0:
        expected[:, dy:] = 0
    if dx > 0:
        expected[:, :, :dx] = 0
    elif dx < 0:
        expected[:, :, dx:] = 0
    assert np.array_equal(warp(images, shift=(dy, dx)), expected)


def test_quarter_turn_about_the_centre_is_rot90(images):
    """90 degrees about (13.5, 13.5) maps the grid onto itself: a pure re-indexing."""
    turned = warp(images.astype(np.float64), theta_degrees=90.0)
    assert np.allclose(turned, np.rot90(images, k=1, axes=(1, 2)), atol=1e-9)


def test_subpixel_shift_moves_the_centre_of_mass_by_that_much():
    blob = np.zeros((1, 28, 28, 1))
    blob[0, 10:16, 12:17] = 1.0                       # well inside, so nothing is cut off
    rows, cols = np.indices((28, 28))

    def centre_of_mass(image):
        return (rows * image[0, ..., 0]).sum() / image.sum(), (cols * image[0, ..., 0]).sum() / image.sum()

    before, after = centre_of_mass(blob), centre_of_mass(warp(blob, shift=(0.25, -1.5)))
    assert np.allclose(np.subtract(after, before), (0.25, -1.5))


def test_scaling_about_the_centre_keeps_the_centre_of_mass_and_scales_the_mass():
    blob = np.zeros((1, 28, 28, 1))
    blob[0, 11:17, 11:17] = 1.0                       # a 6x6 square centred on (13.5, 13.5)
    grown = warp(blob, scale=1.5)
    rows, cols = np.indices((28, 28))
    assert np.isclose((rows * grown[0, ..., 0]).sum() / grown.sum(), 13.5)
    assert np.isclose((cols * grown[0, ..., 0]).sum() / grown.sum(), 13.5)
    assert np.isclose(grown.sum(), 36 * 1.5 ** 2, rtol=0.05)   # area grows by s^2


def test_same_seed_same_output_and_different_seed_different_output(images):
    first = augment_batch(images, np.random.default_rng(42))
    again = augment_batch(images, np.random.default_rng(42))
    other = augment_batch(images, np.random.default_rng(43))
    assert np.array_equal(first, again)
    assert not np.array_equal(first, other)


def test_output_stays_in_the_unit_interval(images):
    extremes = np.concatenate([images, np.ones_like(images[:4]), np.zeros_like(images[:4])])
    out = augment_batch(extremes, np.random.default_rng(5), max_shift=3.0, max_rotation=30.0,
                        max_scale=0.3)
    assert out.dtype == np.float32 and out.shape == extremes.shape
    assert out.min() >= 0.0 and out.max() <= 1.0
    assert not np.array_equal(out, extremes)


def test_out_argument_is_filled_and_returned(images):
    out = np.full_like(images, -1.0)
    result = augment_batch(images, np.random.default_rng(9), out=out)
    assert result is out and out.min() >= 0.0


def test_float32_and_float64_kernels_agree(images):
    rng = np.random.default_rng(11)
    n = len(images)
    maps = inverse_maps(np.deg2rad(rng.uniform(-10, 10, n)), rng.uniform(0.9, 1.1, n),
                        rng.uniform(-2, 2, (n, 2)), (28, 28))
    out32, out64 = np.empty_like(images), np.empty(images.shape)
    warp_batch(images, maps.astype(np.float32), no_fields(n), out32)
    warp_batch(images.astype(np.float64), maps, no_fields(n, np.float64), out64)
    assert np.abs(out32 - out64).max() < 1e-5


def test_a_constant_elastic_field_is_a_shift(images):
    """Every output pixel displaced by the same (dy, dx) reads the input there: a roll by
    (-dy, -dx), the pixels coming from outside the image 0."""
    fields = no_fields(len(images))
    fields[:, 0], fields[:, 1] = 2.0, -1.0
    expected = np.roll(images, (-2, 1), axis=(1, 2))
    expected[:, -2:], expected[:, :, :1] = 0, 0
    assert np.array_equal(warp(images, fields=fields), expected)


def test_the_elastic_field_is_interpolated_between_its_control_points():
    """A field that grows linearly down the rows is read exactly (bilinear interpolation of a
    linear function): a column-wise ramp image then shows each row moved by its own amount."""
    ramp = np.tile(np.arange(28, dtype=np.float64) / 27, (1, 28, 1))[..., None]   # value = column / 27
    fields = no_fields(1, np.float64)
    fields[0, 1] = np.linspace(0.0, 3.0, GRID)[:, None]        # dx from 0 (top) to 3 px (bottom)
    out = np.empty_like(ramp)
    warp_batch(ramp, inverse_maps(np.zeros(1), np.ones(1), np.zeros((1, 2)), (28, 28)), fields, out)
    dx = 3.0 * np.arange(28) / 27                               # each row's displacement
    columns = np.arange(28)[None, :] + dx[:, None]
    inside = columns <= 27
    assert np.allclose(out[0, ..., 0][inside], (columns / 27)[inside], atol=1e-12)


def test_elastic_zero_is_the_affine_augmentation_exactly_and_elastic_is_seeded(images):
    affine = augment_batch(images, np.random.default_rng(4))
    assert np.array_equal(augment_batch(images, np.random.default_rng(4), elastic=0.0), affine)
    bent = augment_batch(images, np.random.default_rng(4), elastic=1.5)
    assert np.array_equal(bent, augment_batch(images, np.random.default_rng(4), elastic=1.5))
    assert not np.array_equal(bent, affine) and 0.0 <= bent.min() and bent.max() <= 1.0
