"""Batched products, and a mode in which a problem's bits do not depend on its batch.

By default the solvers and the mixture multiply with ``torch.bmm``: one call for
all problems, the fast path. On the CPU its result for one problem can depend on
the batch around it in the last bits: the BLAS picks kernels and blockings from the
batch size, and its vector kernels (one row or one column, as in ``w^T X`` or
``x^T G``) round differently with the alignment of each problem's data, that is
with the problem's position in the batch. (Measured on torch 2.14 with MKL: a
(1, 200) row times a (200, 135) float64 matrix, alone and at position 3 of a batch
of four, differed by one unit in the last place; so did some Gram matrices in
batches of two and eight.) A few ulps are enough to change an iteration count and
then the fourth digit of an explanation.

Under :func:`batch_invariant` (or ``torchxai.explain(..., batch_invariant=True)``)
:func:`bmm` instead multiplies problem by problem with ``torch.mm``, each on a
contiguous copy that starts 64-byte aligned, so every problem meets the same kernel
with the same layout wherever it sits; the model is queried one input at a time.
Explaining four inputs together then gives exactly the bits of explaining them one
at a time (``tests/test_determinism.py`` checks this on each run). The mode costs a
Python-level loop per product, so it is for audits and tests, not for bulk runs.
Other devices than the CPU always take the batched path.
"""

from __future__ import annotations

import contextlib
import threading
from collections.abc import Iterator

import torch
from torch import Tensor

__all__ = [
    "batch_invariant",
    "bmm",
    "design_times",
    "is_batch_invariant",
    "row_times",
]

_ALIGNMENT = 64
_state = threading.local()


def is_batch_invariant() -> bool:
    """Whether the batch-invariant mode is on in this thread."""
    return bool(getattr(_state, "enabled", False))


@contextlib.contextmanager
def batch_invariant(enabled: bool = True) -> Iterator[None]:
    """Turn the batch-invariant mode on (or off) inside a ``with`` block.

    Args:
        enabled: the mode inside the block; the previous one is restored after.
    """
    previous = is_batch_invariant()
    _state.enabled = bool(enabled)
    try:
        yield
    finally:
        _state.enabled = previous


def bmm(A: Tensor, B: Tensor) -> Tensor:
    """``torch.bmm``, or problem by problem in the batch-invariant mode.

    Args:
        A: (N, m, k).
        B: (N, k, q).

    Returns:
        (N, m, q) with ``out[i] = A[i] @ B[i]``.
    """
    if A.device.type != "cpu" or not is_batch_invariant():
        return torch.bmm(A, B)
    out = A.new_empty(A.shape[0], A.shape[1], B.shape[2])
    for i in range(A.shape[0]):
        out[i] = torch.mm(_aligned_copy(A[i]), _aligned_copy(B[i]))
    return out


def design_times(X: Tensor, coef: Tensor) -> Tensor:
    """Each design times each of its coefficient vectors.

    Args:
        X: (B, n, p) designs.
        coef: (B, K, p) coefficient vectors, or (B, p) for one.

    Returns:
        (B, n, K) with ``out[b, i, k] = X[b, i] @ coef[b, k]``, or (B, n) for a
        (B, p) ``coef``.
    """
    if coef.dim() == 2:
        return bmm(X, coef[:, :, None])[:, :, 0]
    return bmm(X, coef.mT)


def row_times(row: Tensor, A: Tensor) -> Tensor:
    """A row vector per problem times its matrix.

    Args:
        row: (B, m) vectors.
        A: (B, m, q) matrices.

    Returns:
        (B, q) with ``out[b] = row[b] @ A[b]``.
    """
    return bmm(row[:, None, :], A)[:, 0, :]


def _aligned_copy(matrix: Tensor) -> Tensor:
    """A contiguous copy of a 2-D tensor whose data start 64-byte aligned."""
    size = matrix.element_size()
    unit = max(1, _ALIGNMENT // size)
    buffer = torch.empty(matrix.numel() + unit, dtype=matrix.dtype)
    offset = (-(buffer.data_ptr() // size)) % unit
    out = buffer[offset : offset + matrix.numel()].view(matrix.shape)
    return out.copy_(matrix)
