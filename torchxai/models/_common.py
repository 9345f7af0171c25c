"""What the three ported Keras models share: probabilities, input checks, loading."""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import torch
from torch import nn

from torchxai.datafiles import require
from torchxai.errors import InvalidInputError
from torchxai.models.keras_h5 import KerasH5File, read_keras_h5


class KerasPort(nn.Module):
    """Base class of a torch port of a Keras classifier.

    ``forward`` gives logits (the inputs of the Keras softmax); ``predict_proba``
    gives the Keras model's output, the softmax over the last dimension. Both are
    differentiable. The loaders return the model in ``eval`` mode.

    Attributes:
        source: the ``.h5`` file the weights were read from (``None`` if built bare).
        keras_version: ``keras_version`` of that file.
        keras_backend: ``backend`` of that file.
    """

    source: Path | None
    keras_version: str | None
    keras_backend: str | None

    def __init__(self) -> None:
        super().__init__()
        self.source = None
        self.keras_version = None
        self.keras_backend = None

    def predict_proba(self, x: torch.Tensor) -> torch.Tensor:
        """Class probabilities: ``softmax(forward(x))`` over the last dimension."""
        return torch.softmax(self(x), dim=-1)

    def _reference_parameter(self) -> torch.Tensor:
        return next(self.parameters())

    def _record_source(self, h5: KerasH5File) -> None:
        self.source = h5.path
        self.keras_version = h5.keras_version
        self.keras_backend = h5.backend

    def _check_float_input(
        self, x: object, shapes: tuple[tuple[int, ...], ...], what: str
    ) -> torch.Tensor:
        """Check a float input: a tensor, one of ``shapes`` after the batch
        dimension, the model's dtype and device."""
        if not isinstance(x, torch.Tensor):
            raise InvalidInputError(
                f"{type(self).__name__} expects a torch.Tensor {what}, "
                f"got {type(x).__name__}"
            )
        if x.dim() < 2 or tuple(x.shape[1:]) not in shapes:
            expected = " or ".join(
                "(batch, " + ", ".join(str(d) for d in s) + ")" for s in shapes
            )
            raise InvalidInputError(
                f"{type(self).__name__} expects {what} of shape {expected}, "
                f"got {tuple(x.shape)}"
            )
        _check_dtype_device(self, x, self._reference_parameter())
        return x


def _check_dtype_device(
    module: nn.Module, x: torch.Tensor, reference: torch.Tensor
) -> None:
    name = type(module).__name__
    if not x.is_floating_point():
        raise InvalidInputError(
            f"{name} expects a floating-point input, got dtype {x.dtype}; "
            f"convert it with x.to({reference.dtype})"
        )
    if x.dtype != reference.dtype:
        raise InvalidInputError(
            f"{name} has dtype {reference.dtype} but the input has dtype {x.dtype}; "
            f"call model.to({x.dtype}) or x.to({reference.dtype})"
        )
    if x.device != reference.device:
        raise InvalidInputError(
            f"{name} is on {reference.device} but the input is on {x.device}; "
            f"move one of them with .to(device)"
        )


def read_model_file(
    relative: str,
    data_dir: str | os.PathLike[str] | None,
) -> KerasH5File:
    """Find ``relative`` in the data directory (or raise
    :class:`~torchxai.errors.DataFileMissingError`) and read it."""
    return read_keras_h5(require(relative, data_dir))


def to_parameter(array: np.ndarray) -> nn.Parameter:
    """A float32 parameter holding ``array`` (the files store float32)."""
    return nn.Parameter(
        torch.as_tensor(np.ascontiguousarray(array), dtype=torch.float32)
    )


def finish(
    model: KerasPort,
    device: str | torch.device | None,
    dtype: torch.dtype | None,
) -> KerasPort:
    """Move a freshly loaded model to ``device``/``dtype`` and set ``eval`` mode."""
    if dtype is not None and not dtype.is_floating_point:
        raise InvalidInputError(f"dtype must be a floating-point dtype, got {dtype}")
    model.to(device=device, dtype=dtype)
    model.eval()
    return model
