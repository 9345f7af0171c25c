"""Explanation-guided patching of a function-start model, with a random control.

:func:`patch_model` runs the LEMNA paper's patching (Guo et al., CCS 2018,
section 6.3) for any explainer:

1. predict every position of the test windows and collect the errors (FP, FN);
2. explain each error (at most ``max_errors``, a seeded draw) for the target
   ``(position, predicted class)``;
3. craft training windows from the top features of each explanation
   (:mod:`torchxai.patching.crafting`);
4. fine-tune a deep copy of the model on the training windows plus the crafted
   ones (:func:`torchxai.patching.finetune.fine_tune`);
5. count FP and FN on the test windows again.

:func:`compare_patching` runs it with LEMNA and with the random control on the
same errors, and counts the errors of reference models (the seed's patched
``O1_Bi_Rnn_fixed.h5``).

As in the paper and the seed code, the crafted windows are copies of *test*
windows and the errors are counted on those same test windows, so "after" is
not a held-out measure; pass ``holdout`` windows (never used for crafting) to get
one as well.
"""

from __future__ import annotations

import copy
import logging
import time
from collections.abc import Mapping
from dataclasses import asdict, dataclass, field
from typing import Any

import torch
from torch import Tensor, nn

from torchxai.errors import InvalidInputError
from torchxai.patching._checks import (
    Windows,
    as_windows,
    check_int,
    check_model,
    model_device,
)
from torchxai.patching.counting import (
    ErrorCounts,
    ErrorSet,
    count_errors,
    find_errors,
    predict_classes,
    select_errors,
)
from torchxai.patching.crafting import CraftedSamples, craft_samples
from torchxai.patching.explainers import (
    Explainer,
    LemnaExplainer,
    RandomWindowExplainer,
    explain_errors,
    explainer_name,
)
from torchxai.patching.finetune import fine_tune

__all__ = [
    "PatchComparison",
    "PatchOptions",
    "PatchReport",
    "compare_patching",
    "patch_model",
]

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class PatchOptions:
    """The settings of one patching run (defaults: the seed code's).

    Attributes:
        n_features: positions overwritten per error (seed: 2).
        fn_copies: crafted copies per false negative (seed: 3).
        fp_copies: crafted copies per false positive (seed: 4).
        neutral_token: the token written into the chosen positions (0 = blank).
        skip_neutral: never choose a position that already holds ``neutral_token``.
        keep_fp_target: never overwrite a false positive's own position (not in
            the seed; see :mod:`torchxai.patching.crafting`).
        max_errors: explain at most this many errors (a seeded draw over FP and FN
            together); None explains all.
        epochs: fine-tuning epochs (seed: 10).
        lr: Adam learning rate (seed: Keras' default 1e-3).
        batch_size: fine-tuning windows per step (seed: 100).
        eval_batch_size: windows per forward pass when counting errors.
        explain_batch_size: errors per explainer call.
        count_padding: count errors on padding positions too.
        seed: seed of the error draw, the shuffling and dropout.
        progress: show tqdm progress bars.
    """

    n_features: int = 2
    fn_copies: int = 3
    fp_copies: int = 4
    neutral_token: int = 0
    skip_neutral: bool = True
    keep_fp_target: bool = False
    max_errors: int | None = None
    epochs: int = 10
    lr: float = 1e-3
    batch_size: int = 100
    eval_batch_size: int = 256
    explain_batch_size: int = 128
    count_padding: bool = False
    seed: int = 0
    progress: bool = False

    def __post_init__(self) -> None:
        for name, minimum in (
            ("n_features", 0),
            ("fn_copies", 0),
            ("fp_copies", 0),
            ("neutral_token", 0),
            ("epochs", 0),
            ("batch_size", 1),
            ("eval_batch_size", 1),
            ("explain_batch_size", 1),
            ("seed", 0),
        ):
            check_int(getattr(self, name), name, minimum)
        if self.max_errors is not None:
            check_int(self.max_errors, "max_errors", 0)
        lr = self.lr
        if isinstance(lr, bool) or not isinstance(lr, int | float) or not lr > 0:
            raise InvalidInputError(f"lr must be a positive number; got {lr!r}")
        for name in ("skip_neutral", "keep_fp_target", "count_padding", "progress"):
            if not isinstance(getattr(self, name), bool):
                raise InvalidInputError(
                    f"{name} must be True or False; got {getattr(self, name)!r}"
                )

    def to_dict(self) -> dict[str, Any]:
        """The options as JSON types."""
        return asdict(self)


@dataclass
class PatchReport:
    """What one patching run did and how the error counts moved.

    Attributes:
        explainer: the explainer's name (``"lemna"``, ``"random"``, ...).
        before: counts of the input model on the test windows.
        after: counts of the patched model on the test windows.
        errors_found: ``{"fp": ..., "fn": ...}`` errors of the input model.
        errors_explained: the same for the errors explained and crafted from.
        max_errors: the cap on explained errors (None: no cap).
        capped: whether the cap left errors out.
        crafted: ``{"fp": ..., "fn": ...}`` crafted windows from each kind.
        fp_targets_overwritten: explained false positives whose own position was
            among the overwritten ones.
        n_train_windows: the training windows (without the crafted ones).
        n_test_windows: the test windows.
        losses: the mean fine-tuning loss of each epoch.
        options: the :class:`PatchOptions` used.
        device: the model's device.
        seconds: wall time of each stage (``explain``, ``fine_tune``, ``evaluate``).
        holdout_before: counts of the input model on the holdout windows, if given.
        holdout_after: counts of the patched model on them.
    """

    explainer: str
    before: ErrorCounts
    after: ErrorCounts
    errors_found: dict[str, int]
    errors_explained: dict[str, int]
    max_errors: int | None
    capped: bool
    crafted: dict[str, int]
    fp_targets_overwritten: int
    n_train_windows: int
    n_test_windows: int
    losses: list[float]
    options: dict[str, Any]
    device: str
    seconds: dict[str, float] = field(default_factory=dict)
    holdout_before: ErrorCounts | None = None
    holdout_after: ErrorCounts | None = None

    def to_dict(self) -> dict[str, Any]:
        """The report as JSON types."""
        out: dict[str, Any] = {}
        for name, value in vars(self).items():
            out[name] = value.to_dict() if isinstance(value, ErrorCounts) else value
        return out


@dataclass
class PatchComparison:
    """Explanation-guided patching against the random control and references.

    Attributes:
        before: counts of the input model on the test windows.
        patched: the run with the explainer (LEMNA by default).
        control: the run with the random control on the same errors.
        references: counts of each reference model on the test windows.
        holdout_before: counts of the input model on the holdout windows, if given.
        holdout_references: counts of each reference model on them.
    """

    before: ErrorCounts
    patched: PatchReport
    control: PatchReport
    references: dict[str, ErrorCounts] = field(default_factory=dict)
    holdout_before: ErrorCounts | None = None
    holdout_references: dict[str, ErrorCounts] = field(default_factory=dict)

    def rows(self) -> list[tuple[str, ErrorCounts, ErrorCounts | None]]:
        """``(name, test counts, holdout counts or None)`` for every model compared."""
        rows = [("input model", self.before, self.holdout_before)]
        for report in (self.patched, self.control):
            rows.append(
                (f"patched ({report.explainer})", report.after, report.holdout_after)
            )
        for name, counts in self.references.items():
            rows.append((name, counts, self.holdout_references.get(name)))
        return rows

    def format_table(self) -> str:
        """The error counts as a plain-text table, one row per model."""
        holdout = self.holdout_before is not None
        header = f"{'model':<34}{'FP':>8}{'FN':>8}{'precision':>11}{'recall':>9}"
        if holdout:
            header += f"{'holdout FP':>12}{'holdout FN':>12}"
        lines = [header, "-" * len(header)]
        for name, counts, held in self.rows():
            line = (
                f"{name:<34}{counts.fp:>8}{counts.fn:>8}"
                f"{counts.precision:>11.4f}{counts.recall:>9.4f}"
            )
            if holdout:
                fp = "" if held is None else str(held.fp)
                fn = "" if held is None else str(held.fn)
                line += f"{fp:>12}{fn:>12}"
            lines.append(line)
        return "\n".join(lines)

    def to_dict(self) -> dict[str, Any]:
        """The comparison as JSON types."""
        return {
            "before": self.before.to_dict(),
            "patched": self.patched.to_dict(),
            "control": self.control.to_dict(),
            "references": {k: v.to_dict() for k, v in self.references.items()},
            "holdout_before": (
                None if self.holdout_before is None else self.holdout_before.to_dict()
            ),
            "holdout_references": {
                k: v.to_dict() for k, v in self.holdout_references.items()
            },
        }


@dataclass(frozen=True)
class _Data:
    """Checked inputs of a run."""

    train: tuple[Tensor, Tensor]
    test: tuple[Tensor, Tensor]
    holdout: tuple[Tensor, Tensor] | None


def _check_inputs(
    model: object,
    train: object,
    test: object,
    holdout: object,
    options: PatchOptions | None,
) -> tuple[nn.Module, _Data, PatchOptions]:
    checked = check_model(model)
    if options is None:
        options = PatchOptions()
    elif not isinstance(options, PatchOptions):
        raise InvalidInputError(
            f"options must be a PatchOptions or None; got {type(options).__name__}"
        )
    data = _Data(
        as_windows(train, "train"),
        as_windows(test, "test"),
        None if holdout is None else as_windows(holdout, "holdout"),
    )
    pairs = [data.train, data.test]
    if data.holdout is not None:
        pairs.append(data.holdout)
    lengths = {pair[0].shape[1] for pair in pairs}
    if len(lengths) != 1:
        raise InvalidInputError(
            f"train, test and holdout windows must have one length; got "
            f"{sorted(lengths)}"
        )
    return checked, data, options


def _counts(
    model: nn.Module, windows: tuple[Tensor, Tensor], options: PatchOptions
) -> tuple[Tensor, ErrorCounts]:
    tokens, labels = windows
    predicted = predict_classes(model, tokens, batch_size=options.eval_batch_size)
    counts = count_errors(
        predicted, tokens, labels, count_padding=options.count_padding
    )
    return predicted, counts


def _by_kind(errors: ErrorSet) -> dict[str, int]:
    return {"fp": errors.n_false_positives, "fn": errors.n_false_negatives}


def _trainable_copy(model: nn.Module) -> nn.Module:
    """A deep copy of ``model``; all parameters trainable if none was."""
    patched = copy.deepcopy(model)
    if not any(p.requires_grad for p in patched.parameters()):
        logger.info("no parameter of the model requires grad; training all of them")
        patched.requires_grad_(True)
    return patched


def _explain_and_craft(
    model: nn.Module,
    test: tuple[Tensor, Tensor],
    selected: ErrorSet,
    explainer: Explainer,
    options: PatchOptions,
) -> CraftedSamples:
    """Steps 2-3: explain the selected errors with the model in eval mode, craft."""
    tokens, labels = test
    was_training = model.training
    model.eval()
    try:
        with torch.no_grad():
            scores, feature_mask = explain_errors(
                explainer,
                model,
                tokens[selected.window],
                selected.targets(),
                batch_size=options.explain_batch_size,
                progress=options.progress,
            )
    finally:
        model.train(was_training)
    return craft_samples(
        tokens,
        labels,
        selected,
        scores,
        feature_mask=feature_mask,
        n_features=options.n_features,
        fn_copies=options.fn_copies,
        fp_copies=options.fp_copies,
        neutral_token=options.neutral_token,
        skip_neutral=options.skip_neutral,
        keep_fp_target=options.keep_fp_target,
    )


def _patch(
    model: nn.Module,
    data: _Data,
    errors: ErrorSet,
    before: tuple[ErrorCounts, ErrorCounts | None],
    explainer: Explainer,
    options: PatchOptions,
) -> tuple[nn.Module, PatchReport]:
    """Steps 2-5 of the module docs, for errors already found."""
    seconds: dict[str, float] = {}
    selected = select_errors(
        errors, options.max_errors, torch.Generator().manual_seed(options.seed)
    )
    name = explainer_name(explainer)
    logger.info("%s: explaining %d of %d errors", name, len(selected), len(errors))

    tick = time.perf_counter()
    crafted = _explain_and_craft(model, data.test, selected, explainer, options)
    seconds["explain"] = time.perf_counter() - tick

    tick = time.perf_counter()
    patched = _trainable_copy(model)
    train_tokens, train_labels = data.train
    losses = fine_tune(
        patched,
        torch.cat([train_tokens, crafted.tokens]),
        torch.cat([train_labels, crafted.labels]),
        epochs=options.epochs,
        lr=options.lr,
        batch_size=options.batch_size,
        seed=options.seed,
        progress=options.progress,
    )
    seconds["fine_tune"] = time.perf_counter() - tick

    tick = time.perf_counter()
    _, after = _counts(patched, data.test, options)
    holdout_after = None
    if data.holdout is not None:
        _, holdout_after = _counts(patched, data.holdout, options)
    seconds["evaluate"] = time.perf_counter() - tick

    from_fn = selected.is_false_negative[crafted.error_index]
    report = PatchReport(
        explainer=name,
        before=before[0],
        after=after,
        errors_found=_by_kind(errors),
        errors_explained=_by_kind(selected),
        max_errors=options.max_errors,
        capped=len(selected) < len(errors),
        crafted={"fp": int((~from_fn).sum()), "fn": int(from_fn.sum())},
        fp_targets_overwritten=int(
            (crafted.changed == selected.position[:, None]).any(dim=1).sum()
        ),
        n_train_windows=int(train_tokens.shape[0]),
        n_test_windows=int(data.test[0].shape[0]),
        losses=losses,
        options=options.to_dict(),
        device=str(model_device(model)),
        seconds=seconds,
        holdout_before=before[1],
        holdout_after=holdout_after,
    )
    return patched, report


def _errors_before(
    model: nn.Module, data: _Data, options: PatchOptions
) -> tuple[ErrorSet, tuple[ErrorCounts, ErrorCounts | None]]:
    predicted, before = _counts(model, data.test, options)
    tokens, labels = data.test
    errors = find_errors(predicted, tokens, labels, count_padding=options.count_padding)
    holdout = None
    if data.holdout is not None:
        _, holdout = _counts(model, data.holdout, options)
    return errors, (before, holdout)


def patch_model(
    model: nn.Module,
    train: Windows,
    test: Windows,
    explainer: Explainer | None = None,
    *,
    options: PatchOptions | None = None,
    holdout: Windows | None = None,
) -> tuple[nn.Module, PatchReport]:
    """Patch a function-start model with explanations of its test errors.

    The input model is never modified: it is deep-copied, and the copy is
    fine-tuned on the model's device. Nothing is written to disk.

    Args:
        model: tokens int64 (n, L) -> logits (n, L, 2) (class 1 = function start),
            e.g. :func:`torchxai.models.load_function_start_rnn`.
        train: the training windows (a ``SequenceDataset`` or ``(tokens, labels)``,
            int64 (N_train, L) each).
        test: the test windows whose errors are explained and counted.
        explainer: ``(model, windows, targets) -> Explanation`` (see
            :mod:`torchxai.patching.explainers`); default LEMNA with
            ``seed=options.seed``.
        options: the run's settings; default :class:`PatchOptions()`.
        holdout: windows never used for crafting, counted before and after.

    Returns:
        ``(patched_model, report)``; the patched model is in ``eval`` mode.

    Raises:
        InvalidInputError: a bad model, windows, option or explainer result.
        FitError: fine-tuning diverged.
    """
    model, data, options = _check_inputs(model, train, test, holdout, options)
    if explainer is None:
        explainer = LemnaExplainer(seed=options.seed)
    errors, before = _errors_before(model, data, options)
    return _patch(model, data, errors, before, explainer, options)


def compare_patching(
    model: nn.Module,
    train: Windows,
    test: Windows,
    explainer: Explainer | None = None,
    *,
    control: Explainer | None = None,
    references: Mapping[str, nn.Module] | None = None,
    options: PatchOptions | None = None,
    holdout: Windows | None = None,
) -> tuple[nn.Module, PatchComparison]:
    """Patch with ``explainer`` and with the random control; count references.

    Both runs explain the same errors (the same seeded draw under
    ``max_errors``), craft the same number of windows and fine-tune with the same
    seed; only the choice of the overwritten positions differs.

    Args:
        model: see :func:`patch_model`.
        train: see :func:`patch_model`.
        test: see :func:`patch_model`.
        explainer: default LEMNA with ``seed=options.seed``.
        control: default :class:`RandomWindowExplainer` with ``seed=options.seed``
            and the explainer's ``window`` option if it has one (else 40).
        references: other models to count errors of (e.g. the seed's patched model),
            by name.
        options: the settings of both runs.
        holdout: see :func:`patch_model`.

    Returns:
        ``(model patched with explainer, comparison)``.
    """
    model, data, options = _check_inputs(model, train, test, holdout, options)
    if explainer is None:
        explainer = LemnaExplainer(seed=options.seed)
    if control is None:
        window = getattr(explainer, "options", {}).get("window", 40)
        control = RandomWindowExplainer(seed=options.seed, window=window)
    named = dict(references or {})
    for name, reference in named.items():
        check_model(reference, f"references[{name!r}]")

    errors, before = _errors_before(model, data, options)
    patched, report = _patch(model, data, errors, before, explainer, options)
    _, control_report = _patch(model, data, errors, before, control, options)
    comparison = PatchComparison(
        before=before[0],
        patched=report,
        control=control_report,
        references={n: _counts(m, data.test, options)[1] for n, m in named.items()},
        holdout_before=before[1],
    )
    if data.holdout is not None:
        comparison.holdout_references = {
            n: _counts(m, data.holdout, options)[1] for n, m in named.items()
        }
    return patched, comparison
