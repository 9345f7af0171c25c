"""The containers the data set loaders return.

Each is a plain dataclass of tensors plus the metadata needed to trace a row back to
its file. ``subset`` keeps rows in the order of the given indices.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import torch

from torchxai.errors import InvalidInputError


def _index_tensor(
    indices: torch.Tensor | np.ndarray | list[int], n: int
) -> torch.Tensor:
    """Validate row indices against a data set of ``n`` rows; return int64 (k,)."""
    index = torch.as_tensor(indices)
    if index.ndim != 1 or index.dtype.is_floating_point or index.dtype == torch.bool:
        raise InvalidInputError(
            f"indices must be a 1-D integer sequence; got dtype {index.dtype} and "
            f"shape {tuple(index.shape)}"
        )
    index = index.to(torch.int64)
    if index.numel() and (int(index.min()) < -n or int(index.max()) >= n):
        raise InvalidInputError(
            f"indices must lie in [-{n}, {n}); got values from {int(index.min())} "
            f"to {int(index.max())}"
        )
    return index % max(n, 1)


@dataclass
class TabularDataset:
    """Rows of numeric features with a binary label (the PDFrate/Mimicus data).

    Attributes:
        features: float32 (n, p) raw feature values (``TRUE``/``FALSE`` read as 1/0).
        labels: int64 (n,), 1 = malicious, 0 = benign.
        feature_names: the p column names, in column order.
        filenames: the n ``filename`` entries of the CSV rows.
        source: the files the rows were read from, in row order.
    """

    features: torch.Tensor
    labels: torch.Tensor
    feature_names: list[str]
    filenames: list[str]
    source: list[Path] = field(default_factory=list)

    def __len__(self) -> int:
        return int(self.labels.shape[0])

    def subset(self, indices: torch.Tensor | np.ndarray | list[int]) -> TabularDataset:
        """The rows at ``indices`` (int, shape (k,)), in that order."""
        index = _index_tensor(indices, len(self))
        return TabularDataset(
            features=self.features[index],
            labels=self.labels[index],
            feature_names=list(self.feature_names),
            filenames=[self.filenames[i] for i in index.tolist()],
            source=list(self.source),
        )


@dataclass
class ImageDataset:
    """Grey-scale images with class labels (Fashion-MNIST).

    Attributes:
        images: float32 (n, 28, 28), pixel values in [0, 1] (uint8 / 255).
        labels: int64 (n,), class indices 0..9.
        source: the file(s) the images were read from.
    """

    images: torch.Tensor
    labels: torch.Tensor
    source: list[Path] = field(default_factory=list)

    def __len__(self) -> int:
        return int(self.labels.shape[0])

    def subset(self, indices: torch.Tensor | np.ndarray | list[int]) -> ImageDataset:
        """The images at ``indices`` (int, shape (k,)), in that order."""
        index = _index_tensor(indices, len(self))
        return ImageDataset(self.images[index], self.labels[index], list(self.source))


@dataclass
class ElfText:
    """The ``.text`` section of one ELF file with its function-start labels.

    Attributes:
        code: np.uint8 (m,), the bytes of ``.text``.
        is_start: np.bool_ (m,), True where a function symbol starts.
        address: the virtual address of the first byte of ``.text`` (0 for
            relocatable objects, whose symbols are section offsets).
        path: the file read.
    """

    code: np.ndarray
    is_start: np.ndarray
    address: int
    path: Path

    @property
    def start_offsets(self) -> np.ndarray:
        """int64 (k,): the offsets into ``code`` of the function starts, ascending."""
        return np.flatnonzero(self.is_start).astype(np.int64)


@dataclass
class SequenceDataset:
    """Fixed-length token windows with per-position labels (function starts).

    Attributes:
        tokens: int64 (w, window); byte value + 1, 0 = padding past the end of a
            binary's ``.text``.
        labels: int64 (w, window); 1 = a function starts at this byte, 0 otherwise
            (also 0 on padding).
        binary_index: int64 (w,); index into ``paths`` of the binary each window
            was cut from.
        paths: the binaries, in the order of ``binary_index``.
    """

    tokens: torch.Tensor
    labels: torch.Tensor
    binary_index: torch.Tensor
    paths: list[Path] = field(default_factory=list)

    def __len__(self) -> int:
        return int(self.tokens.shape[0])

    @property
    def mask(self) -> torch.Tensor:
        """bool (w, window): True on real bytes, False on padding."""
        return self.tokens != 0

    def subset(self, indices: torch.Tensor | np.ndarray | list[int]) -> SequenceDataset:
        """The windows at ``indices`` (int, shape (k,)), in that order.

        ``paths`` and ``binary_index`` are kept as they are (indices into the full
        list of binaries).
        """
        index = _index_tensor(indices, len(self))
        return SequenceDataset(
            self.tokens[index],
            self.labels[index],
            self.binary_index[index],
            list(self.paths),
        )
