"""``torchxai.explain``: the one entry point of every explanation method."""

from __future__ import annotations

import numbers
from collections.abc import Callable
from typing import Any

import torch
from torch import Tensor

from torchxai.batched import batch_invariant, is_batch_invariant
from torchxai.errors import InvalidInputError
from torchxai.explanation import Explanation
from torchxai.methods import _options as check
from torchxai.methods import get_method
from torchxai.methods._task import ExplainTask, check_features, jsonable
from torchxai.queries import (
    OUTPUTS,
    TargetModel,
    check_device,
    pick_target,
    resolve_target,
)
from torchxai.samplers import (
    SAMPLERS,
    image_feature_map,
    infer_sampler,
    input_generators,
    sequence_feature_map,
    tabular_feature_map,
)

COMMON_DEFAULTS: dict[str, Any] = {
    "seed": 0,
    "output": "probabilities",
    "sampler": None,
    "n_samples": 500,
    "baseline": 0.0,
    "window": 40,
    "segments": None,
    "batch_size": 1024,
    "fit_batch_size": None,
    "progress": False,
    "batch_invariant": False,
    "skip_baseline_features": True,
}
"""Options every method accepts, with their defaults."""


def explain(
    model: Callable[[Tensor], Tensor],
    x: Tensor,
    method: str = "lemna",
    target: Any = None,
    **options: Any,
) -> Explanation:
    """Explain the model's decision on one input or a batch of inputs.

    Args:
        model: a torch module or callable mapping (N, *input_shape) inputs to class
            probabilities (N, C), or (N, L, C) for a sequence labeller (one class
            distribution per position). Its inputs must be on its device.
        x: a batch (B, *input_shape), or one input: a 1-D tensor (a tabular row or
            a token sequence) or, with ``sampler="image"``, a 2-D (H, W) image.
            The explanation always has a batch dimension.
        method: a registered method name: ``"lemna"``, ``"lime"``, ``"random"``,
            or one added with :func:`torchxai.methods.register_method`.
        target: what to explain. For a classifier: None (the predicted class), a
            class index, or one class per input. For a sequence labeller:
            ``(position, class)`` (class None: the predicted class at that
            position), or a (B, 2) tensor of such pairs.
        **options: options common to all methods,

            * ``seed`` (0): seed of every random draw; an input's draws depend only
              on the seed, the input and its target, not on the batch.
            * ``output`` (``"probabilities"``): or ``"logits"`` to apply a softmax
              over the last dimension of the model's outputs.
            * ``sampler`` (auto): ``"tabular"``, ``"sequence"`` or ``"image"``;
              auto picks ``"sequence"`` for sequence labellers, ``"tabular"`` for
              (B, p) inputs, ``"image"`` for (B, H, W) and (B, C, H, W) inputs.
            * ``n_samples`` (500): perturbed samples per input, the input included.
            * ``baseline`` (0.0): the value a switched-off feature takes: a number
              or a tensor broadcastable to the batch.
            * ``window`` (40): sequence sampler: the number of positions around the
              target position that are features.
            * ``segments`` (None): image sampler: an integer mask (H, W) or
              (B, H, W); its segments are the features instead of the pixels.
            * ``batch_size`` (1024): inputs per model call.
            * ``fit_batch_size`` (auto): explained inputs whose perturbations are
              queried and whose surrogates are fitted together. Larger is faster
              (fewer, larger tensor operations) and takes more memory; auto picks
              as many inputs as keep the fit's design copies under 2**26 elements
              (256 MB in float32), at most 1,024: 165 inputs for LEMNA with K = 6
              on the 135 features of the PDF MLP, 994 for LIME.
            * ``progress`` (False): show tqdm progress bars.
            * ``batch_invariant`` (False): make every input's explanation
              bit-identical whatever else is explained with it (the number of
              inputs, ``fit_batch_size``, the input's position) on the CPU: the
              model sees one input's copies per call and the solvers multiply
              problem by problem (:mod:`torchxai.batched`). Slower (1.8x for
              LEMNA, 2.0x for LIME on 64 PDF MLP inputs); without it the scores
              move slightly (there: up to 6.0e-5 of an input's largest score for
              LEMNA, 1.3e-4 for LIME, top-5 sets unchanged;
              ``benchmarks/bench_batch_invariance.py``), and the same call
              repeated still gives the same bits.
            * ``skip_baseline_features`` (True): the perturbation methods (LEMNA,
              LIME, random, captum methods that take a feature mask) do not
              switch off the features that already equal the baseline (a zero
              column of the PDF MLP, a zero byte, a black pixel): that changes
              nothing, so the model's answers carry no information about them.
              They score exactly 0 and are no columns of the surrogate, which
              is fitted on the other features only (so they get no noise
              coefficients, and the fit is smaller). The seed code and the
              papers perturb them too; ``False`` does the same. The README gives
              the measured difference.
              The global methods (DMM) ignore it.

            and the method's own options (see :mod:`torchxai.methods.lemna`,
            :mod:`torchxai.methods.lime`).

    Returns:
        The :class:`~torchxai.explanation.Explanation` of the B inputs.

    Raises:
        InvalidInputError: an unknown method or option, a bad option value, a target
            out of range, inputs on another device than the model, a model output of
            the wrong shape or with NaN, fewer samples than features.
        FitError: the model raised, or a fit broke down.
    """
    spec = get_method(method)
    common, own = _split_options(options, spec.defaults, method)
    common = _check_common(common)
    inputs = _as_batch(x, common["sampler"])
    check_device(model, inputs)
    wrapped = TargetModel(model, common["output"], common["batch_size"])

    with batch_invariant(common["batch_invariant"]):
        with torch.no_grad():
            probabilities = _probabilities_on(wrapped, inputs)
            target_t = resolve_target(target, probabilities)
            task = _build_task(model, wrapped, inputs, target_t, probabilities, common)
        with torch.set_grad_enabled(spec.requires_grad):
            return spec(task, own)


def _split_options(
    options: dict[str, Any], defaults: Any, method: str
) -> tuple[dict[str, Any], dict[str, Any]]:
    """Separate common and method options, filling in defaults; refuse unknown ones."""
    unknown = sorted(set(options) - set(COMMON_DEFAULTS) - set(defaults))
    if unknown:
        known = sorted(set(COMMON_DEFAULTS) | set(defaults))
        raise InvalidInputError(
            f"unknown option{'s' if len(unknown) > 1 else ''} {', '.join(unknown)} for "
            f"method {method!r}; accepted options: {', '.join(known)}"
        )
    common = {key: options.get(key, value) for key, value in COMMON_DEFAULTS.items()}
    own = {key: options.get(key, value) for key, value in defaults.items()}
    return common, own


def _check_common(options: dict[str, Any]) -> dict[str, Any]:
    seed = check.integer("seed", options["seed"], 0)
    sampler = options["sampler"]
    if sampler is not None:
        sampler = check.choice("sampler", sampler, SAMPLERS)
    segments = options["segments"]
    if segments is not None and sampler not in (None, "image"):
        raise InvalidInputError(
            f"option segments is for sampler='image'; got sampler={sampler!r}"
        )
    baseline = options["baseline"]
    if not isinstance(baseline, Tensor) and (
        not isinstance(baseline, numbers.Real) or isinstance(baseline, bool)
    ):
        raise InvalidInputError(
            f"option baseline must be a number or a tensor; got {baseline!r}"
        )
    return {
        "seed": seed,
        "output": check.choice("output", options["output"], OUTPUTS),
        "sampler": sampler,
        "n_samples": check.integer("n_samples", options["n_samples"], 2),
        "baseline": baseline,
        "window": check.integer("window", options["window"], 1),
        "segments": segments,
        "batch_size": check.integer("batch_size", options["batch_size"], 1),
        "fit_batch_size": None
        if options["fit_batch_size"] is None
        else check.integer("fit_batch_size", options["fit_batch_size"], 1),
        "progress": check.flag("progress", options["progress"]),
        "batch_invariant": check.flag("batch_invariant", options["batch_invariant"]),
        "skip_baseline_features": check.flag(
            "skip_baseline_features", options["skip_baseline_features"]
        ),
    }


def _as_batch(x: Any, sampler: str | None) -> Tensor:
    """The inputs with a batch dimension, checked."""
    if not isinstance(x, Tensor):
        raise InvalidInputError(
            f"x must be a torch.Tensor of inputs; got {type(x).__name__}"
        )
    if x.dim() == 0:
        raise InvalidInputError(
            "x must be one input or a batch of inputs; got a scalar"
        )
    single = x.dim() == 1 or (x.dim() == 2 and sampler == "image")
    inputs = x[None] if single else x
    if inputs.shape[0] == 0:
        raise InvalidInputError(f"x is an empty batch, shape {tuple(x.shape)}")
    if inputs[0].numel() == 0:
        raise InvalidInputError(
            f"x has inputs with no elements (shape {tuple(x.shape)}); an input "
            "needs at least one feature to explain"
        )
    if inputs.is_floating_point() and not bool(torch.isfinite(inputs).all()):
        raise InvalidInputError("x contains NaN or infinite values")
    return inputs.detach()


def _probabilities_on(model: TargetModel, inputs: Tensor) -> Tensor:
    """The model's probabilities on the explained inputs, in batches.

    In the batch-invariant mode every input goes through the model alone.
    """
    step = 1 if is_batch_invariant() else model.batch_size
    parts = [
        model.probabilities(inputs[start : start + step], "x")
        for start in range(0, inputs.shape[0], step)
    ]
    return torch.cat(parts)


def _build_task(
    raw_model: Callable[..., Any],
    model: TargetModel,
    inputs: Tensor,
    target: Tensor,
    probabilities: Tensor,
    common: dict[str, Any],
) -> ExplainTask:
    sampler = common["sampler"] or infer_sampler(inputs, model.labeller)
    if common["segments"] is not None and sampler != "image":
        raise InvalidInputError(
            f"option segments is for sampler='image'; the inputs of shape "
            f"{tuple(inputs.shape)} use sampler {sampler!r}"
        )
    if sampler == "sequence":
        if not model.labeller:
            raise InvalidInputError(
                "sampler='sequence' needs a sequence labeller (outputs (N, L, C)) so "
                "that the target names a position; use sampler='tabular' to make every "
                "position a feature"
            )
        feature_map = sequence_feature_map(inputs, target[:, 0], common["window"])
    elif sampler == "image":
        feature_map = image_feature_map(inputs, common["segments"])
    else:
        feature_map = tabular_feature_map(inputs)
    task = ExplainTask(
        model=model,
        raw_model=raw_model,
        inputs=inputs,
        target=target,
        target_probability=pick_target(probabilities, target),
        sampler=sampler,
        feature_map=feature_map,
        baseline=_baseline(common["baseline"], inputs),
        generators=input_generators(common["seed"], inputs, target),
        seed=common["seed"],
        n_samples=common["n_samples"],
        fit_batch_size=common["fit_batch_size"],
        progress=common["progress"],
        common_options={**jsonable(common), "sampler": sampler},
    )
    check_features(task)
    return task


def _baseline(value: Any, inputs: Tensor) -> Tensor:
    """The baseline as a tensor on the inputs' device, broadcastable to the batch."""
    baseline = torch.as_tensor(value).to(inputs.device)
    try:
        fits = torch.broadcast_shapes(baseline.shape, inputs.shape) == inputs.shape
    except RuntimeError:
        fits = False
    if not fits:
        raise InvalidInputError(
            f"option baseline of shape {tuple(baseline.shape)} does not broadcast to "
            f"the inputs' shape {tuple(inputs.shape)}"
        )
    if not inputs.is_floating_point() and (
        baseline.is_floating_point() and not bool((baseline == baseline.round()).all())
    ):
        raise InvalidInputError(
            f"option baseline must hold integers for {inputs.dtype} inputs; "
            f"got {value!r}"
        )
    return baseline.to(inputs.dtype)
