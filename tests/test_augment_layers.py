"""Tests of the single augmentation layers of kerascl.augment (both backends)."""

import keras
import numpy as np
import pytest

from kerascl import augment as A


def _images(batch=8, size=16, seed=0):
    # One shape everywhere: JAX compiles each primitive once per shape in eager mode.
    return np.random.RandomState(seed).rand(batch, size, size, 3).astype("float32")


LAYERS = [
    lambda: A.RandomResizedCrop(16, 16, scale=(0.2, 1.0), seed=1),
    lambda: A.RandomHorizontalFlip(p=0.5, seed=1),
    lambda: A.RandomColorJitter(0.4, 0.4, 0.2, 0.1, p=0.8, seed=1),
    lambda: A.RandomGrayscale(p=0.5, seed=1),
    lambda: A.RandomGaussianBlur(p=0.5, sigma=(0.1, 2.0), seed=1),
    lambda: A.RandomSolarization(p=0.5, threshold=0.4, seed=1),
    lambda: A.RandomRotation(degrees=(-30, 30), p=0.7, seed=1),
    lambda: A.RandomRotation(right_angles=True, seed=1),
    lambda: A.RandomElasticTransform(alpha=20.0, sigma=2.0, p=0.5, seed=1),
]


@pytest.mark.parametrize("make", LAYERS)
def test_layer_shapes_range_and_config_round_trip(make):
    layer = make()
    out = keras.ops.convert_to_numpy(layer(_images(), training=True))
    assert out.shape == (8, 16, 16, 3)
    assert out.dtype == np.float32
    assert out.min() >= 0.0 and out.max() <= 1.0 + 1e-6
    clone = type(layer).from_config(layer.get_config())
    assert clone.get_config() == layer.get_config()
    restored = keras.saving.deserialize_keras_object(keras.saving.serialize_keras_object(layer))
    assert type(restored) is type(layer) and restored.get_config() == layer.get_config()


@pytest.mark.parametrize("make", LAYERS)
def test_layer_inference_is_identity_or_resize(make):
    layer = make()
    x = _images()
    out = keras.ops.convert_to_numpy(layer(x, training=False))
    np.testing.assert_allclose(out, x, atol=1e-6)


def test_single_image_is_accepted():
    out = A.RandomGrayscale(p=1.0)(_images(1)[0])
    assert tuple(out.shape) == (16, 16, 3)


def test_flip_grayscale_solarize_match_reference_formulas():
    x = _images()
    np.testing.assert_allclose(keras.ops.convert_to_numpy(A.RandomHorizontalFlip(p=1.0)(x)), x[:, :, ::-1])
    gray = keras.ops.convert_to_numpy(A.RandomGrayscale(p=1.0)(x))
    luma = x @ np.array([0.2989, 0.587, 0.114], "float32")
    np.testing.assert_allclose(gray, np.repeat(luma[..., None], 3, -1), atol=1e-6)
    sol = keras.ops.convert_to_numpy(A.RandomSolarization(p=1.0, threshold=0.5)(x))
    np.testing.assert_allclose(sol, np.where(x >= 0.5, 1 - x, x), atol=1e-7)


def test_right_angle_rotation_moves_pixels_exactly():
    x = _images(8)
    layer = A.RandomRotation(right_angles=True, p=1.0, seed=3)
    t = layer.get_random_transformation(x)
    angles = keras.ops.convert_to_numpy(t["angle"])
    out = keras.ops.convert_to_numpy(layer.transform_images(x, t))
    assert len(set(angles.tolist())) > 1
    for image, rotated, angle in zip(x, out, angles):
        np.testing.assert_allclose(rotated, np.rot90(image, k=int(round(angle / 90.0)) % 4), atol=1e-6)


def test_full_crop_is_identity():
    x = _images()
    out = A.RandomResizedCrop(16, 16, scale=(1.0, 1.0), ratio=(1.0, 1.0), seed=0)(x)
    np.testing.assert_allclose(keras.ops.convert_to_numpy(out), x, atol=1e-6)


def test_probability_zero_is_identity_and_one_changes_every_image():
    x = _images()
    np.testing.assert_array_equal(keras.ops.convert_to_numpy(A.RandomGaussianBlur(p=0.0)(x)), x)
    for cls in (A.RandomColorJitter, A.RandomGaussianBlur, A.RandomElasticTransform):
        changed = keras.ops.convert_to_numpy(cls(p=1.0, seed=2)(x))
        assert np.all(np.abs(changed - x).reshape(8, -1).max(axis=1) > 1e-3), cls.__name__


def test_parameters_differ_between_images_of_one_batch():
    x = _images(8)
    crop = A.RandomResizedCrop(16, 16, seed=5)
    boxes = keras.ops.convert_to_numpy(crop.get_random_transformation(x)["box"])
    assert len(np.unique(boxes[:, 2])) == 8
    jitter = A.RandomColorJitter(p=1.0, seed=5)
    factors = keras.ops.convert_to_numpy(jitter.get_random_transformation(x)["factors"])
    assert len(np.unique(factors[:, 0])) == 8


def test_crop_boxes_stay_inside_image_and_follow_scale():
    x = _images()
    box = keras.ops.convert_to_numpy(A.RandomResizedCrop(16, 16, scale=(0.2, 0.5), seed=0).get_random_transformation(x)["box"])
    assert np.all(box[:, :2] >= 0) and np.all(box[:, 0] + box[:, 2] <= 1 + 1e-6) and np.all(box[:, 1] + box[:, 3] <= 1 + 1e-6)
    area = box[:, 2] * box[:, 3]
    assert np.all(area <= 0.5 + 1e-5) and np.all(area >= 0.2 - 1e-5)


def test_the_generator_advances_between_calls():
    layer = A.RandomColorJitter(p=1.0, seed=0)
    x = _images()
    a = keras.ops.convert_to_numpy(layer(x))
    b = keras.ops.convert_to_numpy(layer(x))
    assert not np.allclose(a, b)


@pytest.mark.parametrize(
    "bad, error, match",
    [
        (np.zeros((16, 16), "float32"), ValueError, "rank"),
        (np.zeros((2, 16, 16, 4), "float32"), ValueError, "3 channels"),
        (np.zeros((2, 16, 16, 3), "uint8"), TypeError, "float32"),
        (np.full((2, 16, 16, 3), 255.0, "float32"), ValueError, r"\[0, 1\]"),
    ],
)
def test_bad_input_gives_clear_error(bad, error, match):
    with pytest.raises(error, match=match):
        A.RandomGrayscale(p=1.0)(bad)


def test_bad_arguments_give_clear_errors():
    with pytest.raises(ValueError, match="probability"):
        A.RandomGrayscale(p=1.5)
    with pytest.raises(ValueError, match="scale"):
        A.RandomResizedCrop(8, 8, scale=(0.5, 2.0))
    with pytest.raises(ValueError, match="hue"):
        A.RandomColorJitter(hue=0.7)
    with pytest.raises(ValueError, match="odd"):
        A.RandomGaussianBlur(kernel_size=4)


def test_augmentation_layers_shadow_nothing_of_torch_module():
    """On Keras's torch backend every layer is a `torch.nn.Module`: a hook named `_apply` would replace the one
    `.to()` / `.cpu()` / `.float()` use."""
    import inspect

    torch = pytest.importorskip("torch")
    import kerascl.augment as augment

    classes = [c for c in vars(augment).values() if inspect.isclass(c) and issubclass(c, keras.layers.Layer)]
    assert classes
    for cls in classes:
        names = {n for k in cls.__mro__ if k.__module__.startswith("kerascl") for n in vars(k)
                 if not n.startswith("__")}
        clashes = names & set(dir(torch.nn.Module))
        assert not clashes, f"{cls.__name__} shadows torch.nn.Module attributes {sorted(clashes)}"


def _hsv_reference(rgb):
    """torchvision's `_rgb2hsv`, in NumPy (channels last)."""
    r, g, b = rgb[..., 0], rgb[..., 1], rgb[..., 2]
    maxc, minc = rgb.max(-1), rgb.min(-1)
    chroma = maxc - minc
    flat = maxc == minc
    s = chroma / np.where(flat, 1.0, maxc)
    div = np.where(flat, 1.0, chroma)
    rc, gc, bc = (maxc - r) / div, (maxc - g) / div, (maxc - b) / div
    h = (maxc == r) * (bc - gc) + ((maxc == g) & (maxc != r)) * (2.0 + rc - bc)
    h = h + ((maxc != g) & (maxc != r)) * (4.0 + gc - rc)
    return np.fmod(h / 6.0 + 1.0, 1.0), s, maxc


def _rgb_reference(h, s, v):
    """torchvision's `_hsv2rgb`, in NumPy (channels last)."""
    i = np.floor(h * 6.0)
    f = h * 6.0 - i
    i = i.astype(int) % 6
    p, q, t = (np.clip(v * (1.0 - s * w), 0.0, 1.0) for w in (1.0, f, 1.0 - f))
    table = {0: (v, t, p), 1: (q, v, p), 2: (p, v, t), 3: (p, q, v), 4: (t, p, v), 5: (v, p, q)}
    out = np.zeros(h.shape + (3,))
    for k, channels in table.items():
        out[i == k] = np.stack(channels, -1)[i == k]
    return out


def _color_jitter_reference(image, factors, order):
    """torchvision's `ColorJitter` on one image with the given factors, adjustments in `order`."""
    luma = np.array([0.2989, 0.587, 0.114])
    out = image.astype("float64")
    for op in order:
        f = factors[op]
        if op == 0:
            out = np.clip(f * out, 0.0, 1.0)
        elif op == 1:
            out = np.clip(f * out + (1.0 - f) * (out @ luma).mean(), 0.0, 1.0)
        elif op == 2:
            out = np.clip(f * out + (1.0 - f) * (out @ luma)[..., None], 0.0, 1.0)
        else:
            h, s, v = _hsv_reference(out)
            out = _rgb_reference(np.mod(h + f, 1.0), s, v)
    return out


@pytest.mark.parametrize("strengths", [(0.8, 0.8, 0.8, 0.2), (0.4, 0.0, 0.2, 0.0), (0.0, 0.4, 0.0, 0.1)])
def test_color_jitter_matches_torchvision_formula_in_every_order(strengths):
    from kerascl.augment.random_color_jitter import PERMUTATIONS

    x = _images(48, seed=4)
    x[:6] = np.clip(x[:6] * 3.0, 0.0, 1.0)  # clipped pixels and channel ties
    x[6:9] = x[6:9, :, :, :1]  # grey images (hue undefined)
    layer = A.RandomColorJitter(*strengths, p=1.0, seed=7)
    drawn = layer.get_random_transformation(x)
    order = np.arange(48, dtype="int32") % 24  # every order twice
    transformation = {"factors": drawn["factors"], "order": keras.ops.convert_to_tensor(order)}
    out = keras.ops.convert_to_numpy(layer.transform_images(x, transformation))
    factors = keras.ops.convert_to_numpy(drawn["factors"])
    active = [s > 0 for s in strengths]
    for i in range(48):
        steps = [op for op in PERMUTATIONS[order[i]] if active[op]]
        np.testing.assert_allclose(out[i], _color_jitter_reference(x[i], factors[i], steps), atol=2e-5, err_msg=f"{i}")
