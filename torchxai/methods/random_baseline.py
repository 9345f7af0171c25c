"""The random baseline: every feature gets a score drawn uniformly from [0, 1).

With ``skip_baseline_features`` (the default), features already at the baseline
score 0, as in every perturbation method.

Scores come from each input's seeded generator
(:func:`torchxai.samplers.input_generators`), so a run repeats exactly. The model is
queried only once, on the inputs themselves (by :func:`torchxai.explain`, to resolve
the target); no surrogate is fitted, so ``fit_rmse`` is NaN and ``coefficients`` is
None.
"""

from __future__ import annotations

from typing import Any

import torch

from torchxai.explanation import Explanation
from torchxai.methods._task import ExplainTask

DEFAULTS: dict[str, Any] = {}


def explain_random(task: ExplainTask, options: dict[str, Any]) -> Explanation:
    """Random scores for every input of the task.

    Args:
        task: the checked problem from :func:`torchxai.explain`.
        options: none are used.

    Returns:
        The explanation, with ``feature_scores`` (B, p) uniform on [0, 1).
    """
    counts = task.n_features
    width = int(counts.max())
    feature_scores = torch.zeros(task.batch_size, width, dtype=torch.float32)
    for row, (count, generator) in enumerate(zip(counts, task.generators, strict=True)):
        feature_scores[row, : int(count)] = torch.rand(int(count), generator=generator)
    # features already at the baseline (skip_baseline_features) score 0
    device = task.inputs.device
    feature_scores = feature_scores.to(device) * task.switchable().to(device)
    nan = torch.full((task.batch_size,), float("nan"), device=device)
    return Explanation(
        scores=task.scores_from_features(feature_scores),
        method="random",
        target=task.target,
        fit_rmse=nan,
        options=dict(task.common_options),
        seed=task.seed,
        feature_map=task.feature_map,
        feature_scores=feature_scores,
        target_probability=task.target_probability,
    )
