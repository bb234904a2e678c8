"""What a recipe run trains and probes on: `--data-dir`, `--tfds` and `--eval-dir`, recognised and checked.

A run's training data is one of:

| given | read as | labels for the probes |
|---|---|---|
| nothing (shapes recipes) | the synthetic shapes set | its classes |
| nothing (cifar10 recipes) | tfds's `cifar10` (a prepared copy) | its `train` / `test` splits |
| `--data-dir DIR` with `DIR/train/` | the labeled layout: `DIR/train/<class>/*`, optionally `DIR/test/<class>/*` | the class folders |
| `--data-dir DIR` without `DIR/train/` | every image in `DIR` and the folders below it, unlabeled | none |
| `--data-dir FILE.npy` | a NumPy array `(N, H, W, 3)`, uint8 0..255 or float in [0, 1], unlabeled | none |
| `--tfds NAME` | the tfds data set's `tfds_split` split (default `train`) | its `train` / `test` splits, if it has labels |

`--eval-dir DIR` gives the probes labeled images of their own (`EVAL_LAYOUT`), whatever the training data; without
labels and without `--eval-dir` the run trains, exports its backbone and draws its curves, and the probes are
skipped with a one-line note (`metrics.json`: `probes: {"skipped": reason}`).

This module imports neither Keras nor TensorFlow (only NumPy, to read a `.npy` header), so the command line checks
the data before it loads a framework; `kerascl.recipe_runner.load_data` reads it.
"""

from __future__ import annotations

import dataclasses
import os

import numpy as np

#: Layout of a labeled image folder, shown in error messages.
FOLDER_LAYOUT = (
    "DIR/train/<class>/*.jpg (or .png) for pretraining and the probes' training split, and "
    "DIR/test/<class>/*.jpg for the probes' test split"
)
#: Layout `--eval-dir` takes, shown in error messages.
EVAL_LAYOUT = (
    "DIR/train/<class>/* and DIR/test/<class>/*, or DIR/<class>/* alone (every 5th image of each class is then "
    "held out as the test split)"
)
#: Every this-many-th image of a class (the 5th, 10th, ...) is the test split of a `DIR/<class>/*` `--eval-dir`.
EVAL_TEST_EVERY = 5
#: File name endings read as images: `kerascl.data.IMAGE_EXTENSIONS`, repeated so that this module imports no
#: framework (tests/test_recipe_data.py checks that they agree).
IMAGE_EXTENSIONS = (".jpg", ".jpeg", ".png", ".bmp", ".gif")
#: What `--data-dir` takes, for error messages.
DATA_DIR_FORMS = (
    "a folder of images (DIR/train/<class>/ for labels; any other folder is read unlabeled, nested folders "
    "included) or a .npy array file (N, H, W, 3)"
)


@dataclasses.dataclass(frozen=True)
class DataSource:
    """Where a run's training data comes from.

    Attributes:
        kind: `"shapes"`, `"labeled folder"` (`DIR/train/<class>/`), `"folder"` (unlabeled images, read
            recursively), `"array"` (a `.npy` file) or `"tfds"`.
        location: The folder, file or tfds name (None for shapes).
        train_dir: The labeled layout's `train/` folder (`"labeled folder"` only).
        test_dir: Its `test/` folder when present.
    """

    kind: str
    location: str | None = None
    train_dir: str | None = None
    test_dir: str | None = None

    def describe(self) -> str:
        """One line, e.g. `unlabeled images in photos/ (nested folders included)`."""
        return {
            "shapes": "the synthetic shapes set",
            "labeled folder": f"the labeled image folder {self.location} (train/<class>/)",
            "folder": f"unlabeled images in {self.location} (nested folders included)",
            "array": f"the unlabeled image array {self.location}",
            "tfds": f"the tfds data set {self.location}",
        }[self.kind]


def resolve_source(config) -> DataSource:
    """Recognises a run's training data from its `RecipeConfig` (see the module table) and checks that it exists.

    A `.npy` file is checked from its header (shape and dtype), a folder for at least one image file; nothing is
    decoded. tfds names are checked when the data is read.

    Args:
        config: The run's `kerascl.recipe.RecipeConfig`.

    Returns:
        A `DataSource`.

    Raises:
        FileNotFoundError: `data_dir` does not exist or holds no image, or a cifar10 / folder recipe got no data.
        ValueError: a file that is not a `.npy` array, or an array of the wrong shape or dtype; the message names
            the fix.

    Examples:
        >>> from kerascl.recipe import get_recipe
        >>> config = get_recipe("cifar10-byol").with_overrides(data_dir="photos/").config
        >>> resolve_source(config).kind          # photos/ has no train/ subfolder
        'folder'
    """
    if config.tfds:
        return DataSource("tfds", str(config.tfds))
    if config.data_dir is None:
        if config.dataset == "shapes":
            return DataSource("shapes")
        if config.dataset == "cifar10":
            return DataSource("tfds", "cifar10")
        raise FileNotFoundError(f"dataset={config.dataset!r} needs --data-dir: {DATA_DIR_FORMS}.")
    path = os.fspath(config.data_dir)
    if not os.path.exists(path):
        raise FileNotFoundError(
            f"--data-dir {path!r} does not exist. Pass {DATA_DIR_FORMS}; the labeled layout is {FOLDER_LAYOUT}."
        )
    if os.path.isfile(path):
        check_array_file(path)
        return DataSource("array", path)
    train = os.path.join(path, "train")
    if os.path.isdir(train):
        test = os.path.join(path, "test")
        return DataSource("labeled folder", path, train, test if os.path.isdir(test) else None)
    if first_image(path) is None:
        raise FileNotFoundError(
            f"--data-dir {path!r} holds no images ({', '.join(IMAGE_EXTENSIONS)}), neither in it nor in the "
            f"folders below it. Pass the folder that holds your images, a .npy array file, or --tfds NAME."
        )
    return DataSource("folder", path)


def check_data(config) -> DataSource:
    """`resolve_source(config)`, and `check_eval_dir(config.eval_dir)` when it is set: every check that needs no
    image decoded and no framework, so the command line runs them before it loads Keras.

    Args:
        config: The run's `kerascl.recipe.RecipeConfig`.

    Returns:
        The training data's `DataSource`.

    Raises:
        FileNotFoundError, ValueError: as `resolve_source` and `check_eval_dir`.
    """
    source = resolve_source(config)
    if config.eval_dir is not None:
        check_eval_dir(config.eval_dir)
    return source


def first_image(folder: str) -> str | None:
    """The first image file found in `folder` or below it (hidden folders and files skipped), or None."""
    for root, dirs, files in os.walk(folder, followlinks=True):
        dirs[:] = sorted(d for d in dirs if not d.startswith("."))
        for name in sorted(files):
            if not name.startswith(".") and name.lower().endswith(IMAGE_EXTENSIONS):
                return os.path.join(root, name)
    return None


def check_array_file(path: str) -> tuple[tuple[int, ...], np.dtype]:
    """Checks a `--data-dir` file from its header: a `.npy` image array of a usable shape and dtype.

    Accepted: `(N, H, W, 3)`, `(N, H, W, 1)`, `(N, H, W, 4)` or `(N, H, W)`; uint8 (0..255) or float (0..1; the
    values are checked when the array is read).

    Args:
        path: The file.

    Returns:
        `(shape, dtype)` of the array.

    Raises:
        ValueError: not a `.npy` file, a pickled or compressed file, or a shape or dtype kerascl cannot train on;
            the message says how to save a usable array.
    """
    save = ("Save your images with numpy.save('images.npy', images), images a uint8 array (N, H, W, 3) of 0..255 "
            "values or float32 in [0, 1].")
    if not path.lower().endswith(".npy"):
        raise ValueError(f"--data-dir {path!r} is a file but not a .npy array. Pass {DATA_DIR_FORMS}. {save}")
    try:
        array = np.load(path, mmap_mode="r", allow_pickle=False)
    except (ValueError, OSError, EOFError) as error:
        raise ValueError(f"--data-dir {path!r} is not a readable .npy array ({error}). {save}") from error
    if not isinstance(array, np.ndarray):  # an .npz archive renamed .npy
        raise ValueError(f"--data-dir {path!r} holds several arrays (an .npz archive), not one image array. {save}")
    shape, dtype = tuple(array.shape), array.dtype
    if not (dtype == np.uint8 or np.issubdtype(dtype, np.floating)):
        raise ValueError(
            f"--data-dir {path!r} has dtype {dtype}; images must be uint8 (0..255) or float (0..1). Convert them, "
            "e.g. images.astype('uint8') for 0..255 integers or images.astype('float32') / 255, and save again."
        )
    if len(shape) == 3 and shape[-1] in (3, 4):
        raise ValueError(
            f"--data-dir {path!r} has shape {shape}, which reads as one image (H, W, C), not a stack of images. "
            "Stack them into (N, H, W, 3), e.g. numpy.stack(list_of_images), and save again."
        )
    if len(shape) not in (3, 4) or (len(shape) == 4 and shape[-1] not in (1, 3, 4)):
        hint = (" It looks channels-first (N, C, H, W): save images.transpose(0, 2, 3, 1) instead."
                if len(shape) == 4 and shape[1] in (1, 3, 4) else "")
        raise ValueError(
            f"--data-dir {path!r} has shape {shape}; images must be (N, H, W, 3) (or (N, H, W) / (N, H, W, 1) for "
            f"grayscale).{hint}"
        )
    if shape[0] == 0:
        raise ValueError(f"--data-dir {path!r} holds no images (N = 0). {save}")
    return shape, dtype


def check_eval_dir(path: str) -> tuple[str, str | None]:
    """Checks an `--eval-dir` folder (`EVAL_LAYOUT`) without reading images.

    Args:
        path: The folder.

    Returns:
        `(train folder, test folder)` for the `train/` + `test/` layout, or `(path, None)` for class folders
        alone (the test split is then held out of them).

    Raises:
        FileNotFoundError: the folder does not exist, or has `train/` without `test/`.
        ValueError: no class subfolders holding images (the probes need labels).
    """
    path = os.fspath(path)
    if not os.path.isdir(path):
        raise FileNotFoundError(f"--eval-dir {path!r} is not a folder. Pass labeled images laid out as {EVAL_LAYOUT}.")
    train, test = os.path.join(path, "train"), os.path.join(path, "test")
    if os.path.isdir(train):
        if not os.path.isdir(test):
            raise FileNotFoundError(
                f"--eval-dir {path!r} has train/ but no test/ subfolder. Add DIR/test/<class>/*, or pass the class "
                f"folders alone (DIR/<class>/*: every {EVAL_TEST_EVERY}th image of each class becomes the test split)."
            )
        if not _has_class_folders(train):
            raise ValueError(_no_labels(path, "train/"))
        return train, test
    if not _has_class_folders(path):
        raise ValueError(_no_labels(path, ""))
    return path, None


def _has_class_folders(folder: str) -> bool:
    with os.scandir(folder) as entries:
        subfolders = [e.path for e in entries if e.is_dir() and not e.name.startswith(".")]
    return any(
        name.lower().endswith(IMAGE_EXTENSIONS) and not name.startswith(".")
        for sub in subfolders for name in os.listdir(sub)
    )


def _no_labels(path: str, where: str) -> str:
    return (f"--eval-dir {path!r} has no class subfolders with images in {where or 'it'}, so there are no labels to "
            f"probe with. Lay the labeled images out as {EVAL_LAYOUT}.")


def hold_out_test(labels: np.ndarray, every: int = EVAL_TEST_EVERY) -> np.ndarray:
    """A boolean mask of the test split of one labeled listing: the `every`-th, `2 * every`-th, ... image of
    each class (in listing order), so every class with at least `every` images is in both splits.

    Args:
        labels: `(N,)` integer class labels in listing order.
        every: Hold out one image in this many.

    Returns:
        `(N,)` bool, True for the test images.

    Examples:
        >>> hold_out_test(np.array([0, 1] * 5)).nonzero()[0]
        array([8, 9])
    """
    labels = np.asarray(labels)
    seen: dict[int, int] = {}
    mask = np.zeros(len(labels), dtype=bool)
    for index, label in enumerate(labels.tolist()):
        seen[label] = seen.get(label, 0) + 1
        mask[index] = seen[label] % every == 0
    return mask
