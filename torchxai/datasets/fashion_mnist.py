"""Fashion-MNIST images, from the stored npz files or the official IDX files.

Two sources are understood, both inside ``<data_dir>/fashion_mnist/``:

* the npz files described in its ``SOURCE.txt``: ``fmnist_test_9680.npz`` (9,680 of
  the 10,000 official test images, 968 per class) and ``fmnist_train_59160.npz``
  (59,160 of the 60,000 official training images), fields ``x`` uint8 (n, 28, 28),
  ``y`` uint8 (n,), ``client``, ``pfl_split``. Their order is not the official one;
  the 320 test and 840 training images that were mixed in one file are missing.
* the IDX files as published by zalandoresearch (``t10k-images-idx3-ubyte[.gz]``,
  ``t10k-labels-idx1-ubyte[.gz]``, ``train-...``), complete and in official order.
  Label files are also looked for in ``fashion_mnist/official_label_files/``.

``source="auto"`` prefers the npz files when present (they are what the data
directory of this project holds), else the IDX files; the returned
:class:`ImageDataset` records the files used in ``source``.

IDX files are read by :func:`read_idx`, a small reader of our own rather than
torchvision's ``read_sn3_pascalvincent_tensor``: that one reads only uncompressed
files and checks the layout with ``assert``, where we want gzip support and a
:class:`~torchxai.errors.CorruptFileError` naming the file.
"""

from __future__ import annotations

import gzip
import os
import zipfile
import zlib
from pathlib import Path

import numpy as np
import torch

from torchxai.datafiles import FASHION_MNIST
from torchxai.datafiles import data_dir as resolve_data_dir
from torchxai.datasets._types import ImageDataset
from torchxai.errors import CorruptFileError, DataFileMissingError, InvalidInputError

FASHION_MNIST_CLASSES: tuple[str, ...] = (
    "T-shirt/top",
    "Trouser",
    "Pullover",
    "Dress",
    "Coat",
    "Sandal",
    "Shirt",
    "Sneaker",
    "Bag",
    "Ankle boot",
)
"""The ten class names; the label is the index (1 = "Trouser")."""

_FOLDER = "fashion_mnist"
_NPZ = {"test": "fmnist_test_9680.npz", "train": "fmnist_train_59160.npz"}
_IDX_PREFIX = {"test": "t10k", "train": "train"}

# IDX type codes (third byte of the magic number) and their big-endian dtypes.
_IDX_DTYPES: dict[int, np.dtype] = {
    0x08: np.dtype(np.uint8),
    0x09: np.dtype(np.int8),
    0x0B: np.dtype(">i2"),
    0x0C: np.dtype(">i4"),
    0x0D: np.dtype(">f4"),
    0x0E: np.dtype(">f8"),
}


def read_idx(path: str | os.PathLike[str]) -> np.ndarray:
    """Read an IDX file (the MNIST format), plain or gzip-compressed.

    The format: two zero bytes, a type code, the number of dimensions ``d``, then
    ``d`` big-endian uint32 sizes, then the values in C order, big-endian.

    Args:
        path: the file; a name ending in ``.gz`` is decompressed.

    Returns:
        An array with the file's shape, in native byte order (uint8 for the
        Fashion-MNIST images and labels).

    Raises:
        CorruptFileError: the magic number, type code, sizes or length are wrong.
    """
    path = Path(path)
    opener = gzip.open if path.suffix == ".gz" else open
    try:
        with opener(path, "rb") as handle:
            raw = handle.read()
    except (OSError, EOFError) as error:  # gzip errors are OSError / EOFError
        raise CorruptFileError(f"{path}: cannot be read as IDX: {error}") from error

    if len(raw) < 4 or raw[0] != 0 or raw[1] != 0 or raw[2] not in _IDX_DTYPES:
        raise CorruptFileError(
            f"{path}: not an IDX file (magic bytes {raw[:4].hex() or 'missing'}, "
            "expected 0000 followed by a type code 08/09/0b/0c/0d/0e and a rank)"
        )
    dtype, ndim = _IDX_DTYPES[raw[2]], raw[3]
    header = 4 + 4 * ndim
    if len(raw) < header:
        raise CorruptFileError(f"{path}: truncated IDX header ({len(raw)} bytes)")
    shape = tuple(
        int.from_bytes(raw[4 + 4 * i : 8 + 4 * i], "big") for i in range(ndim)
    )
    expected = int(np.prod(shape, dtype=np.int64)) * dtype.itemsize
    if len(raw) - header != expected:
        raise CorruptFileError(
            f"{path}: IDX shape {shape} needs {expected} data bytes, "
            f"the file has {len(raw) - header}"
        )
    values = np.frombuffer(raw, dtype=dtype, offset=header).reshape(shape)
    return values.astype(dtype.newbyteorder("="))


def load_fashion_mnist(
    split: str = "test",
    data_dir: str | os.PathLike[str] | None = None,
    *,
    source: str = "auto",
) -> ImageDataset:
    """Load the Fashion-MNIST test or training images.

    Args:
        split: ``"test"`` or ``"train"`` (the official parts).
        data_dir: the data directory; defaults to ``$TORCHXAI_DATA``.
        source: ``"auto"`` (npz when present, else IDX), ``"npz"`` or ``"idx"``.

    Returns:
        An :class:`ImageDataset`: ``images`` float32 (n, 28, 28) = uint8 / 255 in
        [0, 1], ``labels`` int64 (n,) in 0..9, ``source`` the files read. From the
        npz files n is 9,680 (test) or 59,160 (train); from IDX 10,000 or 60,000.

    Raises:
        InvalidInputError: ``split`` or ``source`` is not one of the values above.
        DataFileMissingError: none of the accepted files is in the data directory.
        CorruptFileError: a file has the wrong fields, shapes or labels.
    """
    if split not in _NPZ:
        raise InvalidInputError(f"split must be 'test' or 'train'; got {split!r}")
    if source not in ("auto", "npz", "idx"):
        raise InvalidInputError(
            f"source must be 'auto', 'npz' or 'idx'; got {source!r}"
        )
    folder = resolve_data_dir(data_dir) / _FOLDER

    npz = folder / _NPZ[split]
    if source in ("auto", "npz") and npz.is_file():
        images, labels = _read_npz(npz)
        used = [npz]
    else:
        idx = _find_idx(folder, split) if source in ("auto", "idx") else None
        if idx is None:
            raise _missing(folder, split, source)
        images, labels = _read_idx_pair(*idx)
        used = list(idx)

    return ImageDataset(
        images=torch.from_numpy(images.astype(np.float32) / np.float32(255.0)),
        labels=torch.from_numpy(labels.astype(np.int64)),
        source=used,
    )


def _read_npz(path: Path) -> tuple[np.ndarray, np.ndarray]:
    # Open the file ourselves so it is closed whatever np.load makes of it (np.load
    # of a path leaks the handle when the content is not a zip archive), and read
    # the arrays while it is open.
    try:
        with path.open("rb") as handle:
            archive = np.load(handle, allow_pickle=False)
            if isinstance(archive, np.ndarray):
                raise CorruptFileError(
                    f"{path}: holds a single array, expected an npz archive with "
                    "the fields 'x' and 'y'"
                )
            with archive:
                if "x" not in archive.files or "y" not in archive.files:
                    raise CorruptFileError(
                        f"{path}: fields {sorted(archive.files)}, expected 'x' and 'y'"
                    )
                images, labels = np.array(archive["x"]), np.array(archive["y"])
    except CorruptFileError:
        raise
    except (OSError, ValueError, EOFError, zipfile.BadZipFile, zlib.error) as error:
        raise CorruptFileError(
            f"{path}: cannot be read as npz ({type(error).__name__}: {error})"
        ) from error
    _check_arrays(path, images, labels)
    return images, labels


def _find_idx(folder: Path, split: str) -> tuple[Path, Path] | None:
    prefix = _IDX_PREFIX[split]
    image = _first_file(folder, [f"{prefix}-images-idx3-ubyte"])
    label_folders = [folder, folder / "official_label_files"]
    label = _first_file(label_folders, [f"{prefix}-labels-idx1-ubyte"])
    return (image, label) if image is not None and label is not None else None


def _first_file(folders: Path | list[Path], stems: list[str]) -> Path | None:
    for base in [folders] if isinstance(folders, Path) else folders:
        for stem in stems:
            for name in (stem, stem + ".gz"):
                if (base / name).is_file():
                    return base / name
    return None


def _read_idx_pair(image_path: Path, label_path: Path) -> tuple[np.ndarray, np.ndarray]:
    images, labels = read_idx(image_path), read_idx(label_path)
    if labels.ndim != 1 or labels.shape[0] != images.shape[0]:
        raise CorruptFileError(
            f"{label_path}: labels of shape {labels.shape} do not match the "
            f"{images.shape[0]} images of {image_path}"
        )
    _check_arrays(image_path, images, labels)
    return images, labels


def _check_arrays(path: Path, images: np.ndarray, labels: np.ndarray) -> None:
    if images.dtype != np.uint8 or images.ndim != 3 or images.shape[1:] != (28, 28):
        raise CorruptFileError(
            f"{path}: images are {images.dtype} {images.shape}, "
            "expected uint8 (n, 28, 28)"
        )
    if labels.shape != (images.shape[0],):
        raise CorruptFileError(
            f"{path}: labels of shape {labels.shape}, expected ({images.shape[0]},)"
        )
    if labels.size and (int(labels.min()) < 0 or int(labels.max()) > 9):
        raise CorruptFileError(
            f"{path}: labels range from {int(labels.min())} to {int(labels.max())}, "
            "expected 0..9"
        )


def _missing(folder: Path, split: str, source: str) -> DataFileMissingError:
    prefix = _IDX_PREFIX[split]
    wanted = {
        "npz": [_NPZ[split]],
        "idx": [f"{prefix}-images-idx3-ubyte[.gz] and {prefix}-labels-idx1-ubyte[.gz]"],
    }
    names = wanted[source] if source != "auto" else wanted["npz"] + wanted["idx"]
    return DataFileMissingError(
        f"Fashion-MNIST {split} data not found: looked in {folder} for "
        f"{' or '.join(names)}. The IDX files are published at "
        f"{FASHION_MNIST.homepage}; set TORCHXAI_DATA or pass data_dir= to point "
        "to a directory whose fashion_mnist/ folder holds them."
    )
