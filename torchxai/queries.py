"""Send inputs and their perturbed copies through the model, and check its answers.

The model is any callable (usually a ``torch.nn.Module``) mapping a batch of N
inputs to class probabilities of shape (N, C), or (N, L, C) for a sequence labeller
that classifies each of the L positions. With ``output="logits"`` its outputs are
passed through a softmax over the last dimension first.

Every call runs under ``torch.no_grad()``, in batches of ``batch_size`` inputs, on
the device of the inputs (which must be the model's device), and every answer is
checked: a tensor of the right shape, finite, and with ``output="probabilities"`` a
probability distribution over the last dimension.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import Any

import torch
from torch import Tensor

from torchxai.batched import is_batch_invariant
from torchxai.errors import FitError, InvalidInputError
from torchxai.samplers import perturb

logger = logging.getLogger(__name__)

OUTPUTS = ("probabilities", "logits")


def model_device(model: Callable[..., Any]) -> torch.device | None:
    """The device of a module's first parameter or buffer; None for other callables."""
    if isinstance(model, torch.nn.Module):
        for parameter in model.parameters():
            return parameter.device
        for buffer in model.buffers():
            return buffer.device
    return None


def check_device(model: Callable[..., Any], inputs: Tensor) -> None:
    """Raise if the inputs are not on the model's device.

    Raises:
        InvalidInputError: naming both devices and the fix.
    """
    device = model_device(model)
    if device is not None and device != inputs.device:
        raise InvalidInputError(
            f"x is on device {inputs.device} but the model's parameters are on "
            f"{device}; move one of them, e.g. x.to({str(device)!r})"
        )


class TargetModel:
    """A model wrapped to answer checked class probabilities in batches.

    Args:
        model: the callable to explain.
        output: ``"probabilities"`` if it returns probabilities, ``"logits"`` if it
            returns scores to be passed through a softmax.
        batch_size: the largest number of inputs sent in one call.
    """

    def __init__(
        self,
        model: Callable[..., Any],
        output: str = "probabilities",
        batch_size: int = 1024,
    ) -> None:
        if not callable(model):
            raise InvalidInputError(
                "model must be a torch module or a callable; got "
                f"{type(model).__name__}"
            )
        if output not in OUTPUTS:
            raise InvalidInputError(f"output must be one of {OUTPUTS}; got {output!r}")
        if _stochastic_in_training(model):
            logger.warning(
                "the model is in training mode; dropout or batch norm may make the "
                "explanation random. Call model.eval() first."
            )
        self.model = model
        self.output = output
        self.batch_size = batch_size
        self.trailing_shape: tuple[int, ...] | None = None

    @property
    def labeller(self) -> bool:
        """Whether the model labels sequence positions: outputs (N, L, C)."""
        return self.trailing_shape is not None and len(self.trailing_shape) == 2

    @property
    def n_classes(self) -> int:
        """The number C of classes (known after the first call)."""
        if self.trailing_shape is None:
            raise RuntimeError("TargetModel.n_classes is known after the first call")
        return self.trailing_shape[-1]

    def probabilities(self, inputs: Tensor, context: str = "x") -> Tensor:
        """Class probabilities of one batch of inputs, checked.

        Args:
            inputs: (N, *input_shape).
            context: what the inputs are, for error messages.

        Returns:
            (N, C) or (N, L, C) probabilities, float32 or wider.
        """
        try:
            with torch.no_grad():
                raw = self.model(inputs)
        except Exception as exc:
            raise FitError(
                f"the model raised {type(exc).__name__} on {context} (a batch of "
                f"shape {tuple(inputs.shape)}, dtype {inputs.dtype}, device "
                f"{inputs.device}): {exc}"
            ) from exc
        return self._check(raw, inputs.shape[0], context)

    def _check(self, raw: object, count: int, context: str) -> Tensor:
        if not isinstance(raw, Tensor):
            raise InvalidInputError(
                f"the model must return a tensor of class probabilities; on {context} "
                f"it returned {type(raw).__name__}"
            )
        shape = tuple(raw.shape)
        if raw.dim() not in (2, 3) or shape[0] != count or shape[-1] < 1:
            raise InvalidInputError(
                f"the model returned shape {shape} on {context} of {count} inputs; "
                f"expected ({count}, C) class probabilities, or ({count}, L, C) for a "
                "sequence labeller"
            )
        if self.trailing_shape is None:
            self.trailing_shape = shape[1:]
        elif shape[1:] != self.trailing_shape:
            raise InvalidInputError(
                f"the model returned shape {shape} on {context} but "
                f"(N, {', '.join(map(str, self.trailing_shape))}) before"
            )
        if not raw.is_floating_point():
            raise InvalidInputError(
                f"the model returned {raw.dtype} values on {context}; expected "
                "floating point probabilities or logits"
            )
        values = raw.to(torch.promote_types(raw.dtype, torch.float32))
        finite = torch.isfinite(values).reshape(count, -1).all(dim=1)
        if not bool(finite.all()):
            bad = int((~finite).sum())
            raise InvalidInputError(
                f"the model returned NaN or infinite values on {context}: "
                f"{bad} of {count} inputs"
            )
        if self.output == "logits":
            return torch.softmax(values, dim=-1)
        self._check_distribution(values, context)
        return values

    def _check_distribution(self, values: Tensor, context: str) -> None:
        classes = values.shape[-1]
        tolerance = max(1e-3, 8 * classes * torch.finfo(values.dtype).eps)
        low, high = float(values.min()), float(values.max())
        worst = float((values.sum(dim=-1) - 1).abs().max())
        if low < -tolerance or high > 1 + tolerance or worst > tolerance:
            raise InvalidInputError(
                f"the model's outputs on {context} are not probabilities (values in "
                f"[{low:.4g}, {high:.4g}], rows summing to 1 within {worst:.3g}); if "
                "the model returns logits, pass output='logits' to apply a softmax"
            )


def _stochastic_in_training(model: Callable[..., Any]) -> bool:
    """Whether a module has dropout or batch-norm layers in training mode."""
    if not isinstance(model, torch.nn.Module):
        return False
    kinds = (torch.nn.modules.dropout._DropoutNd, torch.nn.modules.batchnorm._BatchNorm)
    return any(isinstance(m, kinds) and m.training for m in model.modules())


def pick_target(probabilities: Tensor, target: Tensor) -> Tensor:
    """The probability of each row's target.

    Args:
        probabilities: (N, C) or (N, L, C).
        target: (N,) classes for (N, C); (N, 2) ``(position, class)`` for (N, L, C).

    Returns:
        (N,) probabilities.
    """
    rows = torch.arange(probabilities.shape[0], device=probabilities.device)
    target = target.to(probabilities.device)
    if probabilities.dim() == 2:
        return probabilities[rows, target]
    return probabilities[rows, target[:, 0], target[:, 1]]


def query_perturbations(
    model: TargetModel,
    inputs: Tensor,
    feature_map: Tensor,
    masks: Tensor,
    baseline: Tensor,
    target: Tensor,
    progress: bool = False,
) -> Tensor:
    """The model's target probability on every perturbed copy of every input.

    Copies are built batch by batch (never all at once) and sent through the model
    in batches of ``model.batch_size``.

    Args:
        model: the wrapped model.
        inputs: (G, *input_shape) explained inputs.
        feature_map: (G, *input_shape) int64 feature index of each element, -1 for
            elements never perturbed.
        masks: (G, n, p) bool keep-masks, on the inputs' device.
        baseline: a tensor broadcastable to (G, *input_shape).
        target: (G,) classes or (G, 2) ``(position, class)``.
        progress: show a tqdm progress bar over the batches.

    Returns:
        (G, n) target probabilities.
    """
    count, n_samples = masks.shape[0], masks.shape[1]
    baseline = torch.broadcast_to(baseline.to(inputs.device), inputs.shape)
    spans = _call_spans(count, n_samples, model.batch_size)
    if progress:
        from tqdm.auto import tqdm

        spans = tqdm(spans, desc="queries")
    answers = []
    with torch.no_grad():
        for start, stop in spans:
            flat = torch.arange(start, stop, device=inputs.device)
            owner, sample = flat // n_samples, flat % n_samples
            copies = perturb(
                inputs[owner], feature_map[owner], masks[owner, sample], baseline[owner]
            )
            first, last = int(owner[0]), int(owner[-1])
            context = f"perturbed copies of explained inputs {first}..{last}"
            answers.append(
                pick_target(model.probabilities(copies, context), target[owner])
            )
    return torch.cat(answers).reshape(count, n_samples)


def _call_spans(count: int, n_samples: int, batch_size: int) -> list[tuple[int, int]]:
    """``[start, stop)`` ranges of the flat (input, sample) order, one per model call.

    Calls hold ``batch_size`` copies; in the batch-invariant mode
    (:mod:`torchxai.batched`) a call never mixes two inputs, so each input's copies
    meet the model in the same batches whatever else is explained.
    """
    if not is_batch_invariant():
        total = count * n_samples
        return [
            (start, min(start + batch_size, total))
            for start in range(0, total, batch_size)
        ]
    return [
        (owner * n_samples + lo, owner * n_samples + min(lo + batch_size, n_samples))
        for owner in range(count)
        for lo in range(0, n_samples, batch_size)
    ]


def resolve_target(target: object, probabilities: Tensor) -> Tensor:
    """Turn the user's ``target`` into one int64 target per input, checked.

    Args:
        target: for a classifier (outputs (B, C)): None (the predicted class), a
            class index, or B class indices (list or (B,) tensor). For a sequence
            labeller (outputs (B, L, C)): ``(position, class)`` shared by all inputs
            (``class`` None: the predicted class at that position), or B pairs
            ((B, 2) tensor or list of pairs).
        probabilities: (B, C) or (B, L, C) the model's probabilities on the inputs.

    Returns:
        (B,) classes, or (B, 2) ``(position, class)`` pairs, on the device of
        ``probabilities``.
    """
    batch, device = probabilities.shape[0], probabilities.device
    n_classes = probabilities.shape[-1]
    if probabilities.dim() == 2:
        classes = _class_targets(target, batch, probabilities)
        _check_range("target class", classes, n_classes)
        return classes.to(device)
    length = probabilities.shape[1]
    pairs = _pair_targets(target, batch, probabilities)
    _check_range("target position", pairs[:, 0], length)
    predicted = probabilities.argmax(dim=-1)[torch.arange(batch), pairs[:, 0].clamp(0)]
    missing = pairs[:, 1] == _NO_CLASS
    pairs[:, 1] = torch.where(missing, predicted.cpu(), pairs[:, 1])
    _check_range("target class", pairs[:, 1], n_classes)
    return pairs.to(device)


_NO_CLASS = -(2**62)


def _class_targets(target: object, batch: int, probabilities: Tensor) -> Tensor:
    if target is None:
        return probabilities.argmax(dim=-1).cpu()
    values = _integers("target", target)
    if values.dim() == 0:
        return values.expand(batch).clone()
    if values.shape != (batch,):
        raise InvalidInputError(
            f"target must be a class index or {batch} class indices (one per input) "
            f"for a model with outputs {tuple(probabilities.shape)}; got {target!r}"
        )
    return values


def _pair_targets(target: object, batch: int, probabilities: Tensor) -> Tensor:
    shape = tuple(probabilities.shape)
    if target is None or isinstance(target, int):
        raise InvalidInputError(
            f"the model labels sequence positions (outputs {shape}); target must "
            "name the position as well as the class: target=(position, class); "
            f"got {target!r}"
        )
    if (
        isinstance(target, tuple | list)
        and len(target) == 2
        and all(item is None or _is_integer(item) for item in target)
    ):
        position, label = target
        label = _NO_CLASS if label is None else label
        values = _integers("target", [int(position), int(label)])  # type: ignore[arg-type]
        return values.expand(batch, 2).clone()
    values = _integers("target", target)
    if values.shape == (2,):
        return values.expand(batch, 2).clone()
    if values.shape != (batch, 2):
        raise InvalidInputError(
            f"target must be (position, class) or {batch} such pairs, shape "
            f"({batch}, 2); got shape {tuple(values.shape)}"
        )
    return values.clone()


def _is_integer(value: object) -> bool:
    if isinstance(value, Tensor):
        return value.dim() == 0 and not value.is_floating_point()
    return isinstance(value, int) and not isinstance(value, bool)


def _integers(name: str, value: object) -> Tensor:
    try:
        tensor = (
            torch.as_tensor(value).cpu()
            if not isinstance(value, Tensor)
            else value.cpu()
        )
    except (TypeError, ValueError, RuntimeError) as exc:
        raise InvalidInputError(f"{name} must be integers; got {value!r}") from exc
    if tensor.is_floating_point() or tensor.is_complex() or tensor.dtype == torch.bool:
        raise InvalidInputError(
            f"{name} must be integers; got {tensor.dtype} {value!r}"
        )
    return tensor.to(torch.int64)


def _check_range(name: str, values: Tensor, size: int) -> None:
    bad = (values < 0) | (values >= size)
    if bool(bad.any()):
        row = int(torch.nonzero(bad)[0])
        raise InvalidInputError(
            f"{name} {int(values[row])} (input {row}) is out of range: the model "
            f"has {size} {'positions' if 'position' in name else 'classes'}, "
            f"expected 0..{size - 1}"
        )
