"""Score an explanation against planted ground truth: top-k recall."""

from __future__ import annotations

import torch
from torch import Tensor

from torchxai.errors import InvalidInputError
from torchxai.explanation import Explanation


def top_k_recall(
    explanation: Explanation | Tensor, relevant: Tensor, k: int | None = None
) -> Tensor:
    """The fraction of the truly relevant elements found among the top k.

    For input b with relevant elements R_b and top-k elements T_b (highest signed
    score first, as :meth:`Explanation.top_k`), the recall is
    ``|T_b ∩ R_b| / |R_b|``. Ties at the k-th score are counted by each tied
    element's probability of being chosen under uniform random tie-breaking
    (:func:`torchxai.metrics.top_k_inclusion`), so an explanation that scores
    every element 0 gets the recall of a random guess, ``k / n``, whatever the
    element order. Elements outside the explanation's features (``feature_map``
    -1) rank below all features.

    Args:
        explanation: an Explanation, or its scores (B, *input_shape).
        relevant: bool, (B, *input_shape) or (*input_shape) for all inputs: the
            elements the model's output depends on (``PlantedSample.relevant``).
        k: the top-set size in [1, prod(input_shape)]; None uses ``|R_b|`` for each
            input (then the recall is also the precision).

    Returns:
        (B,) float64 recalls in [0, 1].

    Raises:
        InvalidInputError: shapes that do not match, non-bool ``relevant``, an input
            without relevant elements, NaN scores, or a bad ``k``.
    """
    from torchxai.metrics import top_k_inclusion

    scores, eligible = _scores_of(explanation)
    batch = scores.shape[0]
    mask = _relevant_mask(relevant, scores.shape).to(scores.device)
    flat = mask.reshape(batch, -1)
    sizes = flat.sum(dim=1)
    if bool((sizes == 0).any()):
        raise InvalidInputError(
            f"relevant marks no element of input {int(torch.nonzero(sizes == 0)[0])}; "
            "every input needs at least one relevant element"
        )
    chosen = top_k_inclusion(scores, sizes if k is None else k, eligible)
    found = (chosen * flat.to(torch.float64)).sum(dim=1)
    return found / sizes.to(torch.float64)


def _scores_of(explanation: Explanation | Tensor) -> tuple[Tensor, Tensor | None]:
    if isinstance(explanation, Explanation):
        eligible = None
        if explanation.feature_map is not None:
            eligible = explanation.feature_map.reshape(explanation.batch_size, -1) >= 0
        return explanation.scores, eligible
    if isinstance(explanation, Tensor):
        return explanation, None
    raise InvalidInputError(
        "explanation must be an Explanation or a scores tensor (B, *input_shape); "
        f"got {type(explanation).__name__}"
    )


def _relevant_mask(relevant: Tensor, shape: torch.Size) -> Tensor:
    if not isinstance(relevant, Tensor) or relevant.dtype != torch.bool:
        got = (
            relevant.dtype if isinstance(relevant, Tensor) else type(relevant).__name__
        )
        raise InvalidInputError(f"relevant must be a bool tensor; got {got}")
    if tuple(relevant.shape) == tuple(shape[1:]):
        return relevant.expand(shape)
    if relevant.shape != shape:
        raise InvalidInputError(
            f"relevant has shape {tuple(relevant.shape)}; expected the scores' shape "
            f"{tuple(shape)} or one input's shape {tuple(shape[1:])}"
        )
    return relevant
