"""Count and locate the per-byte errors of a function-start model.

An error is a byte position of a window where the predicted class (the arg-max of
the logits, i.e. probability above 0.5 for two classes) differs from the label:
a *false positive* (FP) is a position predicted as a function start that is not
one; a *false negative* (FN) is a true start the model misses. Padding positions
(token 0) are left out unless ``count_padding=True``; the seed code counted every
position of its padded sequences.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass

import torch
from torch import Tensor, nn

from torchxai.errors import InvalidInputError
from torchxai.patching._checks import check_int, check_logits, model_device

__all__ = [
    "ErrorCounts",
    "ErrorSet",
    "count_errors",
    "find_errors",
    "predict_classes",
    "select_errors",
]


@dataclass(frozen=True)
class ErrorCounts:
    """Confusion counts of a model over the byte positions of some windows.

    Attributes:
        fp: positions predicted as a start that are not one.
        fn: true starts predicted as not a start.
        tp: true starts predicted as a start.
        tn: other positions predicted as not a start.
    """

    fp: int
    fn: int
    tp: int
    tn: int

    @property
    def n_positions(self) -> int:
        """The number of positions counted."""
        return self.fp + self.fn + self.tp + self.tn

    @property
    def precision(self) -> float:
        """TP / (TP + FP); NaN when nothing is predicted a start."""
        return self.tp / (self.tp + self.fp) if self.tp + self.fp else float("nan")

    @property
    def recall(self) -> float:
        """TP / (TP + FN); NaN when there is no true start."""
        return self.tp / (self.tp + self.fn) if self.tp + self.fn else float("nan")

    def to_dict(self) -> dict[str, int | float | None]:
        """Counts, precision and recall as JSON types (NaN as None)."""
        out: dict[str, int | float | None] = dict(asdict(self))
        for key in ("precision", "recall"):
            value = getattr(self, key)
            out[key] = None if value != value else value
        return out


@dataclass(frozen=True)
class ErrorSet:
    """Error positions of a model on some windows, in (window, position) order.

    Attributes:
        window: int64 (E,) index of the window holding each error.
        position: int64 (E,) position of the error in its window.
        predicted: int64 (E,) the predicted class there (1 for an FP, 0 for an FN).
    """

    window: Tensor
    position: Tensor
    predicted: Tensor

    def __len__(self) -> int:
        return int(self.window.shape[0])

    @property
    def is_false_negative(self) -> Tensor:
        """bool (E,): True for a missed start (FN), False for an FP."""
        return self.predicted == 0

    @property
    def n_false_positives(self) -> int:
        """The number of FPs."""
        return int((~self.is_false_negative).sum())

    @property
    def n_false_negatives(self) -> int:
        """The number of FNs."""
        return int(self.is_false_negative.sum())

    def targets(self) -> Tensor:
        """int64 (E, 2) explanation targets ``(position, predicted class)``."""
        return torch.stack([self.position, self.predicted], dim=1)

    def subset(self, index: Tensor) -> ErrorSet:
        """The errors at ``index`` (int64 (k,)), in that order."""
        return ErrorSet(self.window[index], self.position[index], self.predicted[index])


def predict_classes(
    model: nn.Module, tokens: Tensor, *, batch_size: int = 256
) -> Tensor:
    """The model's predicted class at every position, without gradients.

    The model is put in ``eval`` mode for the call and its previous mode restored.

    Args:
        model: maps int64 tokens (n, L) to logits (n, L, 2).
        tokens: int64 (N, L) windows (on any device; batches are moved to the
            model's device).
        batch_size: windows per forward pass.

    Returns:
        int64 (N, L) arg-max classes, on the CPU.
    """
    check_int(batch_size, "batch_size", 1)
    device = model_device(model)
    was_training = model.training
    model.eval()
    out = []
    try:
        with torch.no_grad():
            for start in range(0, tokens.shape[0], batch_size):
                chunk = tokens[start : start + batch_size].to(device)
                logits = check_logits(
                    model(chunk), chunk.shape[0], chunk.shape[1], "model"
                )
                out.append(logits.argmax(dim=-1).cpu())
    finally:
        model.train(was_training)
    if not out:
        return torch.zeros(tokens.shape, dtype=torch.int64)
    return torch.cat(out)


def _counted(tokens: Tensor, count_padding: bool) -> Tensor:
    if count_padding:
        return torch.ones_like(tokens, dtype=torch.bool)
    return tokens != 0


def count_errors(
    predicted: Tensor, tokens: Tensor, labels: Tensor, *, count_padding: bool = False
) -> ErrorCounts:
    """Confusion counts of predictions against labels.

    Args:
        predicted: int64 (N, L) predicted classes (class 1 = start).
        tokens: int64 (N, L) windows; positions with token 0 are padding.
        labels: int64 (N, L) true labels in {0, 1}.
        count_padding: count padding positions too (as the seed code did).

    Returns:
        The FP, FN, TP and TN counts.
    """
    if predicted.shape != labels.shape or tokens.shape != labels.shape:
        raise InvalidInputError(
            f"predicted, tokens and labels must have one shape; got "
            f"{tuple(predicted.shape)}, {tuple(tokens.shape)}, {tuple(labels.shape)}"
        )
    mask = _counted(tokens, count_padding)
    start = (predicted == 1) & mask
    true = (labels == 1) & mask
    return ErrorCounts(
        fp=int((start & ~true).sum()),
        fn=int((~start & true).sum()),
        tp=int((start & true).sum()),
        tn=int((~start & ~true & mask).sum()),
    )


def find_errors(
    predicted: Tensor, tokens: Tensor, labels: Tensor, *, count_padding: bool = False
) -> ErrorSet:
    """The positions where the predicted class differs from the label.

    Args:
        predicted: int64 (N, L) predicted classes.
        tokens: int64 (N, L) windows.
        labels: int64 (N, L) true labels in {0, 1}.
        count_padding: include padding positions.

    Returns:
        The errors in row-major (window, position) order; ``predicted`` is 1 for an
        FP and 0 for an FN.
    """
    wrong = (predicted != labels) & _counted(tokens, count_padding)
    window, position = torch.nonzero(wrong, as_tuple=True)
    return ErrorSet(window, position, labels[window, position].neg().add(1))


def select_errors(
    errors: ErrorSet, max_errors: int | None, generator: torch.Generator
) -> ErrorSet:
    """At most ``max_errors`` errors, a seeded uniform draw kept in original order.

    Args:
        errors: all errors.
        max_errors: the cap; None keeps every error.
        generator: a seeded CPU generator for the draw.

    Returns:
        ``errors`` itself when under the cap, else the drawn subset.
    """
    if max_errors is None or len(errors) <= max_errors:
        return errors
    chosen = torch.randperm(len(errors), generator=generator)[:max_errors]
    return errors.subset(torch.sort(chosen).values)
