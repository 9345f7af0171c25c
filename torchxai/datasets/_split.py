"""Seeded, stratified train/test splits of labelled data sets."""

from __future__ import annotations

import math
from typing import Protocol, TypeVar

import numpy as np
import torch

from torchxai.errors import InvalidInputError


class _Labelled(Protocol):
    labels: torch.Tensor

    def subset(self, indices: torch.Tensor) -> _Labelled: ...


D = TypeVar("D", bound=_Labelled)


def check_fraction(test_fraction: float) -> float:
    """Return ``test_fraction`` as a float, or raise if it is not in (0, 1)."""
    if not isinstance(test_fraction, (int, float)) or not 0.0 < test_fraction < 1.0:
        raise InvalidInputError(
            f"test_fraction must be a number strictly between 0 and 1; "
            f"got {test_fraction!r}"
        )
    return float(test_fraction)


def stratified_split_indices(
    labels: torch.Tensor | np.ndarray, test_fraction: float = 0.2, seed: int = 0
) -> tuple[torch.Tensor, torch.Tensor]:
    """Split row indices so that every class keeps its share in both parts.

    For each class ``c`` with ``n_c`` rows, a random permutation drawn from a
    ``torch.Generator`` seeded with ``seed`` picks ``floor(n_c * test_fraction + 0.5)``
    rows for the test part; the rest go to the training part. Classes are visited
    in ascending order, so the result depends only on ``labels``, ``test_fraction``
    and ``seed``.

    Args:
        labels: int (n,) class labels.
        test_fraction: the share of each class that goes to the test part, in (0, 1).
        seed: the generator seed.

    Returns:
        ``(train_index, test_index)``: int64 tensors, each sorted ascending,
        disjoint, together covering ``0..n-1``.
    """
    fraction = check_fraction(test_fraction)
    y = torch.as_tensor(labels)
    if y.ndim != 1:
        raise InvalidInputError(f"labels must be 1-D; got shape {tuple(y.shape)}")
    generator = torch.Generator().manual_seed(int(seed))

    test_parts = []
    for c in torch.unique(y).tolist():
        members = torch.nonzero(y == c).flatten()
        n_test = math.floor(members.numel() * fraction + 0.5)
        order = torch.randperm(members.numel(), generator=generator)
        test_parts.append(members[order[:n_test]])

    is_test = torch.zeros(y.numel(), dtype=torch.bool)
    if test_parts:
        is_test[torch.cat(test_parts)] = True
    return torch.nonzero(~is_test).flatten(), torch.nonzero(is_test).flatten()


def train_test_split(
    dataset: D, test_fraction: float = 0.2, seed: int = 0
) -> tuple[D, D]:
    """Seeded, stratified split of a labelled data set into ``(train, test)``.

    Works for any data set with a ``labels`` tensor and a ``subset`` method
    (:class:`TabularDataset`, :class:`ImageDataset`). See
    :func:`stratified_split_indices` for the rule; rows keep their original order.

    Args:
        dataset: the data set to split.
        test_fraction: the share of each class that goes to the test part, in (0, 1).
        seed: the generator seed; the same seed gives the same split.

    Returns:
        ``(train, test)``: two data sets of the input's type with disjoint rows.
    """
    train_index, test_index = stratified_split_indices(
        dataset.labels, test_fraction, seed
    )
    return dataset.subset(train_index), dataset.subset(test_index)  # type: ignore[return-value]
