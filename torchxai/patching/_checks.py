"""Input checks shared by the patching modules: windows, models, integer options."""

from __future__ import annotations

from typing import Protocol, runtime_checkable

import torch
from torch import Tensor, nn

from torchxai.errors import InvalidInputError


@runtime_checkable
class WindowsLike(Protocol):
    """Labelled token windows, such as :class:`torchxai.datasets.SequenceDataset`."""

    tokens: Tensor
    labels: Tensor


Windows = WindowsLike | tuple[Tensor, Tensor]


def as_windows(
    data: object, name: str, *, allow_empty: bool = False
) -> tuple[Tensor, Tensor]:
    """Check labelled windows and return ``(tokens, labels)``.

    Args:
        data: an object with ``tokens`` and ``labels`` tensors, or a pair of them.
        name: the argument's name, for error messages.
        allow_empty: accept zero windows.

    Returns:
        ``tokens`` int64 (N, L) (non-negative) and ``labels`` int64 (N, L) in {0, 1},
        on the CPU (batches are moved to the model's device when used).

    Raises:
        InvalidInputError: not a pair of integer tensors of one shape (N, L), or a
            negative token, or a label other than 0/1.
    """
    if isinstance(data, tuple | list) and len(data) == 2:
        tokens, labels = data
    elif isinstance(data, WindowsLike):
        tokens, labels = data.tokens, data.labels
    else:
        raise InvalidInputError(
            f"{name} must be a SequenceDataset (or any object with 'tokens' and "
            f"'labels' tensors) or a (tokens, labels) pair; got {type(data).__name__}"
        )
    for part, value in (("tokens", tokens), ("labels", labels)):
        if not isinstance(value, Tensor):
            raise InvalidInputError(
                f"{name}.{part} must be a torch.Tensor; got {type(value).__name__}"
            )
        if value.is_floating_point() or value.is_complex() or value.dtype == torch.bool:
            raise InvalidInputError(
                f"{name}.{part} must hold integers; got dtype {value.dtype}"
            )
    if tokens.dim() != 2 or tokens.shape != labels.shape:
        raise InvalidInputError(
            f"{name}: tokens and labels must both have shape (N, L); got "
            f"{tuple(tokens.shape)} and {tuple(labels.shape)}"
        )
    if tokens.shape[1] < 1 or (tokens.shape[0] < 1 and not allow_empty):
        raise InvalidInputError(
            f"{name} must hold at least one window of length >= 1; got shape "
            f"{tuple(tokens.shape)}"
        )
    if tokens.numel() and int(tokens.min()) < 0:
        raise InvalidInputError(
            f"{name}.tokens must be non-negative (byte value + 1, 0 = padding); got "
            f"minimum {int(tokens.min())}"
        )
    if labels.numel() and not bool(((labels == 0) | (labels == 1)).all()):
        raise InvalidInputError(
            f"{name}.labels must hold only 0 (not a start) and 1 (a function start); "
            f"got values {torch.unique(labels).tolist()[:8]}"
        )
    return tokens.to("cpu", torch.int64), labels.to("cpu", torch.int64)


def check_model(model: object, name: str = "model") -> nn.Module:
    """Check that ``model`` is a torch module with at least one parameter."""
    if not isinstance(model, nn.Module):
        raise InvalidInputError(
            f"{name} must be a torch.nn.Module mapping tokens (N, L) to logits "
            f"(N, L, 2); got {type(model).__name__}"
        )
    if next(model.parameters(), None) is None:
        raise InvalidInputError(
            f"{name} ({type(model).__name__}) has no parameters to fine-tune"
        )
    return model


def model_device(model: nn.Module) -> torch.device:
    """The device of the model's first parameter (or buffer); the CPU if none."""
    for parameter in model.parameters():
        return parameter.device
    for buffer in model.buffers():
        return buffer.device
    return torch.device("cpu")


def check_int(value: object, name: str, minimum: int) -> int:
    """An integer option ``>= minimum`` (bool is not an integer here)."""
    if isinstance(value, bool) or not isinstance(value, int) or value < minimum:
        raise InvalidInputError(
            f"{name} must be an integer >= {minimum}; got {value!r}"
        )
    return value


def check_logits(logits: object, batch: int, length: int, name: str) -> Tensor:
    """Check a model output: finite logits of shape (batch, length, 2)."""
    if not isinstance(logits, Tensor):
        raise InvalidInputError(
            f"{name} must return a tensor of logits (N, L, 2); got "
            f"{type(logits).__name__}"
        )
    if logits.dim() != 3 or logits.shape != (batch, length, 2):
        raise InvalidInputError(
            f"{name} must return logits of shape ({batch}, {length}, 2) (class 1 = "
            f"function start) for tokens of shape ({batch}, {length}); got "
            f"{tuple(logits.shape)}"
        )
    if not bool(torch.isfinite(logits).all()):
        raise InvalidInputError(f"{name} returned NaN or infinite logits")
    return logits
