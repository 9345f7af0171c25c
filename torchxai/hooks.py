"""Training-time hooks: watch how a model's explanations change while it trains.

:class:`ExplanationMonitor` explains a fixed *probe set* every ``every_n_steps``
training steps and records, per check:

* **attribution drift**: the Jaccard overlap of each probe input's top-``k``
  elements with those of the previous check (1 = the same elements, 0 = none in
  common), and its mean over the probe set;
* **fidelity**: the deduction test of :mod:`torchxai.fidelity` at ``k``, i.e. the
  positive classification rate (PCR) of the probe inputs before and after their
  top-``k`` features are nullified; a faithful explanation gives a large *drop*;
* **overhead**: the seconds the check took (on a GPU after synchronizing), and the
  share of the wall time since the first step that went into checks.

Use it from a plain training loop (:meth:`ExplanationMonitor.on_step` after each
optimizer step, or :meth:`ExplanationMonitor.attach` to an optimizer), or from
PyTorch Lightning through :func:`lightning_callback` (needs the ``lightning`` or
``pytorch_lightning`` package, imported only when asked for).

Example:
    >>> import torch
    >>> from torchxai.hooks import ExplanationMonitor
    >>> model = torch.nn.Sequential(torch.nn.Linear(6, 2))
    >>> probe = torch.rand(4, 6)
    >>> monitor = ExplanationMonitor(probe, every_n_steps=5, method="random", k=2)
    >>> record = monitor.on_step(model, 0)
    >>> record.step, len(monitor.history)
    (0, 1)
"""

from __future__ import annotations

import logging
import math
import os
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import torch
from torch import Tensor, nn

from torchxai.errors import InvalidInputError
from torchxai.explain import explain
from torchxai.explanation import Explanation
from torchxai.fidelity import deduction_test
from torchxai.io import write_json

logger = logging.getLogger(__name__)

LIGHTNING_EXTRA = "lightning"
"""The extra to install for :func:`lightning_callback`: ``torchxai[lightning]``."""


@dataclass(frozen=True)
class MonitorRecord:
    """What one check of :class:`ExplanationMonitor` measured.

    Attributes:
        step: the training step of the check.
        jaccard: mean top-k Jaccard overlap with the previous check over the probe
            inputs; NaN at the first check.
        jaccard_per_input: (B,) float64 overlaps, all NaN at the first check.
        pcr_reference: the fraction of probe inputs the model assigns to their
            explained target (before any feature is removed).
        pcr: the same after nullifying each input's top-k features.
        pcr_random: the same after nullifying k features drawn at random.
        pcr_drop: ``pcr_reference - pcr``; NaN if fidelity is not measured.
        fit_rmse: mean surrogate fit error over the probe inputs (NaN if none).
        seconds: wall time of the check.
    """

    step: int
    jaccard: float
    jaccard_per_input: Tensor = field(repr=False)
    pcr_reference: float
    pcr: float
    pcr_random: float
    pcr_drop: float
    fit_rmse: float
    seconds: float

    def to_dict(self) -> dict[str, Any]:
        """The record as JSON types (NaN as None)."""
        values = {
            "step": self.step,
            "jaccard": self.jaccard,
            "jaccard_per_input": self.jaccard_per_input.tolist(),
            "pcr_reference": self.pcr_reference,
            "pcr": self.pcr,
            "pcr_random": self.pcr_random,
            "pcr_drop": self.pcr_drop,
            "fit_rmse": self.fit_rmse,
            "seconds": self.seconds,
        }
        return {key: _finite_or_none(value) for key, value in values.items()}


class ExplanationMonitor:
    """Explain a probe set every N training steps; record drift, fidelity, cost.

    Args:
        probe_inputs: (B, *input_shape) the fixed inputs explained at each check
            (moved to the model's device at each check).
        every_n_steps: check when ``step % every_n_steps == 0`` (step 0 included,
            a reference before training).
        method: the explanation method (:func:`torchxai.explain`).
        k: the number of top elements compared between checks and nullified by
            the deduction test.
        target: what to explain: None (the class the model predicts at each check)
            or a fixed target as in :func:`torchxai.explain` (e.g. the probe
            labels), which keeps checkpoints comparable when predictions change.
        fidelity: run the deduction test at each check.
        null_value: the value of a nullified feature in the deduction test.
        output: ``"logits"`` (default; the model returns scores) or
            ``"probabilities"``, passed to :func:`torchxai.explain`.
        seed: the seed of every check's explanation and random baseline; the same
            at every check, so drift reflects the model, not the sampling.
        **explain_options: more options of :func:`torchxai.explain` (e.g.
            ``n_samples``).

    Attributes:
        history: the :class:`MonitorRecord` of every check, in order.
        last_explanation: the explanation of the latest check.
        overhead_seconds: total seconds spent in checks.

    Drift is measured on the elements :meth:`Explanation.top_k` returns; where
    fewer than ``k`` elements have a nonzero score (a sparse surrogate), the rest
    of the top ``k`` are ties taken in element order.
    """

    def __init__(
        self,
        probe_inputs: Tensor,
        every_n_steps: int = 100,
        method: str = "lime",
        k: int = 10,
        *,
        target: Any = None,
        fidelity: bool = True,
        null_value: float = 0.0,
        output: str = "logits",
        seed: int = 0,
        **explain_options: Any,
    ) -> None:
        if not isinstance(probe_inputs, Tensor) or probe_inputs.dim() < 2:
            got = (
                tuple(probe_inputs.shape)
                if isinstance(probe_inputs, Tensor)
                else type(probe_inputs).__name__
            )
            raise InvalidInputError(
                f"probe_inputs must be a batch tensor (B, *input_shape); got {got}"
            )
        if probe_inputs.shape[0] == 0:
            raise InvalidInputError("probe_inputs is an empty batch")
        self.probe_inputs = probe_inputs.detach()
        self.every_n_steps = _positive_int("every_n_steps", every_n_steps)
        self.k = _positive_int("k", k)
        numel = math.prod(probe_inputs.shape[1:])
        if self.k > numel:
            raise InvalidInputError(
                f"k must be at most the number of input elements ({numel}); got {k}"
            )
        self.method = method
        self.target = target
        self.fidelity = bool(fidelity)
        self.null_value = null_value
        self.seed = seed
        self.explain_options = {"output": output, **explain_options}
        self.history: list[MonitorRecord] = []
        self.last_explanation: Explanation | None = None
        self.overhead_seconds = 0.0
        self._previous_top: Tensor | None = None
        self._started: float | None = None
        self._last_seen: float | None = None

    # --- driving the monitor ---------------------------------------------------

    def on_step(self, model: nn.Module, step: int) -> MonitorRecord | None:
        """Call after every training step; checks every ``every_n_steps`` steps.

        Args:
            model: the model being trained (any mode; it is put in eval mode for
                the check and restored after).
            step: the number of the training step just finished.

        Returns:
            The new record if this step was checked, else None (also when the
            latest check was at the same step).
        """
        if isinstance(step, bool) or not isinstance(step, int) or step < 0:
            raise InvalidInputError(f"step must be an integer >= 0; got {step!r}")
        now = time.perf_counter()
        if self._started is None:
            self._started = now
        self._last_seen = now
        if step % self.every_n_steps != 0:
            return None
        if self.history and self.history[-1].step == step:
            return None  # already checked (e.g. gradient accumulation)
        record = self.check(model, step)
        self._last_seen = time.perf_counter()
        return record

    def check(self, model: nn.Module, step: int) -> MonitorRecord:
        """Explain the probe set now and record the check.

        Args:
            model: the model (put in eval mode for the check, then restored).
            step: the training step to record.

        Returns:
            The record, also appended to :attr:`history`.
        """
        device = _model_device(model, self.probe_inputs.device)
        started = time.perf_counter()
        was_training = model.training
        model.eval()
        try:
            probe = self.probe_inputs.to(device)
            explanation = explain(
                model,
                probe,
                self.method,
                target=self.target,
                seed=self.seed,
                **self.explain_options,
            )
            top = explanation.top_k_mask(self.k).reshape(probe.shape[0], -1).cpu()
            fidelity = self._fidelity(model, probe, explanation)
            _synchronize(device)
        finally:
            model.train(was_training)
        seconds = time.perf_counter() - started
        record = self._record(step, top, explanation, fidelity, seconds)
        self.overhead_seconds += seconds
        self.history.append(record)
        self.last_explanation = explanation
        self._previous_top = top
        logger.info(
            "step %d: top-%d jaccard %.3f, pcr drop %.3f, %.3f s",
            step, self.k, record.jaccard, record.pcr_drop, seconds,
        )  # fmt: skip
        return record

    def attach(
        self, model: nn.Module, optimizer: torch.optim.Optimizer
    ) -> Callable[[], None]:
        """Check automatically after the optimizer's steps (a plain training loop).

        Counts the optimizer's steps from 1 (the first ``optimizer.step()`` is step
        1) and calls :meth:`on_step` after each. The first call of this method
        also checks step 0, the model before training.

        Args:
            model: the model the optimizer trains.
            optimizer: its optimizer.

        Returns:
            A function that detaches the monitor from the optimizer.
        """
        counter = {"step": 0}
        self.on_step(model, 0)

        def after_step(_optimizer: Any, _args: Any, _kwargs: Any) -> None:
            counter["step"] += 1
            self.on_step(model, counter["step"])

        handle = optimizer.register_step_post_hook(after_step)
        return handle.remove

    # --- results -----------------------------------------------------------------

    @property
    def elapsed_seconds(self) -> float:
        """Wall time from the first :meth:`on_step` call to the latest one."""
        if self._started is None or self._last_seen is None:
            return 0.0
        return self._last_seen - self._started

    @property
    def overhead_fraction(self) -> float:
        """The share of :attr:`elapsed_seconds` spent in checks (NaN before any)."""
        elapsed = self.elapsed_seconds
        return self.overhead_seconds / elapsed if elapsed > 0 else math.nan

    def to_dict(self) -> dict[str, Any]:
        """The settings, every record and the overhead, as JSON types."""
        return {
            "method": self.method,
            "k": self.k,
            "every_n_steps": self.every_n_steps,
            "n_probe_inputs": int(self.probe_inputs.shape[0]),
            "seed": self.seed,
            "overhead_seconds": self.overhead_seconds,
            "elapsed_seconds": self.elapsed_seconds,
            "overhead_fraction": _finite_or_none(self.overhead_fraction),
            "history": [record.to_dict() for record in self.history],
        }

    def save(self, path: str | os.PathLike[str]) -> None:
        """Write :meth:`to_dict` as JSON, atomically."""
        write_json(path, self.to_dict())

    # --- internals -----------------------------------------------------------------

    def _fidelity(
        self, model: nn.Module, probe: Tensor, explanation: Explanation
    ) -> tuple[float, float, float]:
        if not self.fidelity:
            return math.nan, math.nan, math.nan
        result = deduction_test(
            model,
            probe,
            explanation,
            min(self.k, _eligible_features(explanation)),
            null_value=self.null_value,
            seed=self.seed,
        )
        return result.pcr_reference, result.pcr, result.pcr_random

    def _record(
        self,
        step: int,
        top: Tensor,
        explanation: Explanation,
        fidelity: tuple[float, float, float],
        seconds: float,
    ) -> MonitorRecord:
        if self._previous_top is None:
            per_input = torch.full((top.shape[0],), math.nan, dtype=torch.float64)
        else:
            per_input = jaccard(self._previous_top, top)
        reference, pcr, pcr_random = fidelity
        rmse = explanation.fit_rmse.to(torch.float64)
        rmse = rmse[torch.isfinite(rmse)]
        return MonitorRecord(
            step=step,
            jaccard=float(per_input.mean()),
            jaccard_per_input=per_input,
            pcr_reference=reference,
            pcr=pcr,
            pcr_random=pcr_random,
            pcr_drop=reference - pcr,
            fit_rmse=float(rmse.mean()) if rmse.numel() else math.nan,
            seconds=seconds,
        )


def jaccard(a: Tensor, b: Tensor) -> Tensor:
    """Row-wise Jaccard index of two boolean masks: ``|a & b| / |a | b|``.

    Args:
        a: (B, n) bool.
        b: (B, n) bool.

    Returns:
        (B,) float64; 1 where both rows are empty.
    """
    if a.shape != b.shape:
        raise InvalidInputError(
            f"jaccard: masks of shapes {tuple(a.shape)} and {tuple(b.shape)} differ"
        )
    inter = (a & b).sum(-1).to(torch.float64)
    union = (a | b).sum(-1).to(torch.float64)
    return torch.where(union > 0, inter / union.clamp(min=1), torch.ones_like(union))


def _eligible_features(explanation: Explanation) -> int:
    """The fewest features any explained input has (the deduction test's k bound)."""
    if explanation.feature_map is None:
        return math.prod(explanation.input_shape)
    flat = explanation.feature_map.reshape(explanation.batch_size, -1)
    counts = [int(torch.unique(row[row >= 0]).numel()) for row in flat]
    return max(1, min(counts))


def _model_device(model: nn.Module, default: torch.device) -> torch.device:
    first: Tensor | None = next(iter(model.parameters()), None)
    if first is None:
        first = next(iter(model.buffers()), None)
    return default if first is None else first.device


def _synchronize(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def _positive_int(name: str, value: Any) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        raise InvalidInputError(f"{name} must be a positive integer; got {value!r}")
    return value


def _finite_or_none(value: Any) -> Any:
    if isinstance(value, float) and not math.isfinite(value):
        return None
    return value


# --- PyTorch Lightning -------------------------------------------------------------

_CALLBACK_CLASS: type | None = None


def lightning_callback(monitor: ExplanationMonitor) -> Any:
    """A PyTorch Lightning ``Callback`` that drives ``monitor`` during ``fit``.

    At the start of training and after every training batch it calls
    ``monitor.on_step(pl_module, trainer.global_step)`` (the number of optimizer
    steps so far; a step is checked once even when gradient accumulation repeats
    it), on rank 0 only in a multi-process run.

    Args:
        monitor: the monitor to drive.

    Returns:
        An instance of :class:`ExplanationMonitorCallback`, a subclass of
        ``lightning.pytorch.Callback`` (or ``pytorch_lightning.Callback``).

    Raises:
        ImportError: neither ``lightning`` nor ``pytorch_lightning`` is installed;
            the message names the extra to install.
    """
    if not isinstance(monitor, ExplanationMonitor):
        raise InvalidInputError(
            f"monitor must be an ExplanationMonitor; got {type(monitor).__name__}"
        )
    return _callback_class()(monitor)


def _lightning_module() -> Any:
    """``lightning.pytorch``, else ``pytorch_lightning``, else a clear ImportError."""
    try:
        import lightning.pytorch as pl

        return pl
    except ImportError:
        pass
    try:
        import pytorch_lightning as pl

        return pl
    except ImportError:
        pass
    raise ImportError(
        "the Lightning callback needs PyTorch Lightning, which is not installed; "
        f"install the extra with: pip install 'torchxai[{LIGHTNING_EXTRA}]' "
        "(or: pip install lightning)"
    )


def _callback_class() -> type:
    """Create (once) the Callback subclass, now that Lightning is imported."""
    global _CALLBACK_CLASS
    if _CALLBACK_CLASS is not None:
        return _CALLBACK_CLASS
    pl = _lightning_module()

    class ExplanationMonitorCallback(pl.Callback):  # type: ignore[misc,name-defined]
        """Runs an :class:`ExplanationMonitor` after every training batch."""

        def __init__(self, monitor: ExplanationMonitor) -> None:
            super().__init__()
            self.monitor = monitor

        def on_train_start(self, trainer: Any, pl_module: Any) -> None:
            if getattr(trainer, "is_global_zero", True):
                self.monitor.on_step(pl_module, int(trainer.global_step))

        def on_train_batch_end(
            self,
            trainer: Any,
            pl_module: Any,
            outputs: Any,
            batch: Any,
            batch_idx: int,
        ) -> None:
            if getattr(trainer, "is_global_zero", True):
                self.monitor.on_step(pl_module, int(trainer.global_step))

    _CALLBACK_CLASS = ExplanationMonitorCallback
    return _CALLBACK_CLASS


def __getattr__(name: str) -> Any:
    """``ExplanationMonitorCallback`` is created on first access (needs Lightning)."""
    if name == "ExplanationMonitorCallback":
        return _callback_class()
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
