"""Craft training windows from explained errors (LEMNA, Guo et al. CCS 2018, 6.3).

For each error of the model on a window, the explanation ranks the window's
positions; the ``n_features`` best-ranked positions are overwritten with a neutral
token and the copy is labelled with the truth:

* false negative (a true start at position ``t`` the model misses): the
  ``n_features`` best positions *other than* ``t`` get the neutral token, ``t``
  keeps its byte and its start label, the changed positions are labelled "not a
  start"; ``fn_copies`` (3) identical copies.
* false positive (position ``t`` wrongly predicted a start): the ``n_features``
  best positions (``t`` may be one of them) get the neutral token and are
  labelled "not a start" (``t`` is not a start anyway); ``fp_copies`` (4) copies.
  With ``keep_fp_target=True``, ``t`` is skipped as for a false negative, so the
  copy keeps the wrongly accepted byte, labelled "not a start" (an option beyond
  the seed: when the explanation ranks ``t`` itself first, the seed's rule blanks
  the very byte the model got wrong).

Every other position keeps its token and its true label.

The ranking is the explanation's signed score, highest first (the features that
push the model towards its wrong decision, as in the seed code); positions that
are features of the explanation (its ``feature_map`` >= 0, e.g. LEMNA's window
around ``t``) come before all others; ties go to the position nearest ``t``, then
the lower position.

Where this differs from the seed code (``lemna/code/patch.py`` of
Henrygwb/Explaining-DL):

* The seed overwrote the top 2 positions and then restored the start byte, so when
  the start itself ranked in the top 2 only one other position changed; here the
  start is skipped and 2 *other* positions always change.
* The seed used token 1 (byte 0x00) as the neutral value for false negatives and
  token 0 for false positives; here one ``neutral_token`` (default 0, the blank
  token LEMNA's sampler uses) serves both.
* With ``skip_neutral=True`` (default) positions that already hold the neutral
  token (e.g. padding) are skipped, since overwriting them changes nothing; the
  seed could spend one of its 2 changes on such a position.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import Tensor

from torchxai.errors import InvalidInputError
from torchxai.patching._checks import check_int
from torchxai.patching.counting import ErrorSet

__all__ = ["CraftedSamples", "choose_positions", "craft_samples", "rank_positions"]


@dataclass(frozen=True)
class CraftedSamples:
    """Training windows crafted from explained errors.

    Attributes:
        tokens: int64 (M, L) crafted windows.
        labels: int64 (M, L) their labels.
        error_index: int64 (M,) the row of the :class:`ErrorSet` each copy came from.
        changed: int64 (E, n_features) the positions overwritten for each error,
            best first; -1 where fewer positions were eligible.
    """

    tokens: Tensor
    labels: Tensor
    error_index: Tensor
    changed: Tensor

    def __len__(self) -> int:
        return int(self.tokens.shape[0])


def rank_positions(
    scores: Tensor, position: Tensor, feature_mask: Tensor | None = None
) -> Tensor:
    """Order each window's positions from most to least important.

    Keys, in order: features of the explanation first (if ``feature_mask`` is
    given), signed score descending, distance to the error position ascending,
    position ascending.

    Args:
        scores: float (E, L) explanation scores.
        position: int64 (E,) the explained (error) position of each row.
        feature_mask: bool (E, L), True where a position is a feature of the
            explanation; None treats every position as one.

    Returns:
        int64 (E, L) positions, most important first.
    """
    n, length = scores.shape
    index = torch.arange(length, device=scores.device).expand(n, length)
    distance = (index - position.to(scores.device)[:, None]).abs()
    order = torch.sort(distance, dim=1, stable=True).indices
    ranked = scores.to(torch.float64).gather(1, order)
    order = order.gather(
        1, torch.sort(ranked, dim=1, descending=True, stable=True).indices
    )
    if feature_mask is not None:
        inside = feature_mask.to(scores.device).gather(1, order)
        order = order.gather(
            1, torch.sort((~inside).to(torch.int8), dim=1, stable=True).indices
        )
    return order


def choose_positions(
    tokens: Tensor,
    order: Tensor,
    position: Tensor,
    exclude_target: Tensor,
    *,
    n_features: int,
    neutral_token: int,
    skip_neutral: bool,
) -> Tensor:
    """The ``n_features`` best-ranked eligible positions of each row.

    Args:
        tokens: int64 (E, L) the windows.
        order: int64 (E, L) ranking from :func:`rank_positions`.
        position: int64 (E,) the error positions.
        exclude_target: bool (E,), True where the error position itself may not be
            chosen (false negatives).
        n_features: how many positions per row.
        neutral_token: the replacement token.
        skip_neutral: skip positions already holding ``neutral_token``.

    Returns:
        int64 (E, n_features) positions, best first, -1 where fewer were eligible.
    """
    eligible = (order != position[:, None]) | ~exclude_target[:, None]
    if skip_neutral:
        eligible &= tokens.gather(1, order) != neutral_token
    rank = eligible.cumsum(dim=1)
    picked = eligible & (rank <= n_features)
    chosen = torch.full((order.shape[0], n_features), -1, dtype=torch.int64)
    rows, columns = torch.nonzero(picked, as_tuple=True)
    chosen[rows, rank[rows, columns] - 1] = order[rows, columns]
    return chosen


def craft_samples(
    tokens: Tensor,
    labels: Tensor,
    errors: ErrorSet,
    scores: Tensor,
    *,
    feature_mask: Tensor | None = None,
    n_features: int = 2,
    fn_copies: int = 3,
    fp_copies: int = 4,
    neutral_token: int = 0,
    skip_neutral: bool = True,
    keep_fp_target: bool = False,
) -> CraftedSamples:
    """Craft labelled training windows from explained errors (see module docs).

    Args:
        tokens: int64 (N, L) the windows the errors were found on.
        labels: int64 (N, L) their true labels.
        errors: E errors on these windows.
        scores: float (E, L) an explanation of each error's window, for the target
            ``(position, predicted class)``.
        feature_mask: bool (E, L) the positions that are features of each
            explanation, or None.
        n_features: positions overwritten per error (seed: 2).
        fn_copies: copies per false negative (seed: 3).
        fp_copies: copies per false positive (seed: 4).
        neutral_token: the token written into the chosen positions.
        skip_neutral: never choose a position already holding ``neutral_token``.
        keep_fp_target: never choose a false positive's own position either.

    Returns:
        The crafted windows, grouped by error in the order of ``errors``.

    Raises:
        InvalidInputError: ``scores``/``feature_mask`` of the wrong shape or not
            finite, or a bad option.
    """
    check_int(n_features, "n_features", 0)
    check_int(fn_copies, "fn_copies", 0)
    check_int(fp_copies, "fp_copies", 0)
    check_int(neutral_token, "neutral_token", 0)
    n_errors, length = len(errors), tokens.shape[1]
    if not isinstance(scores, Tensor) or scores.shape != (n_errors, length):
        shape = tuple(scores.shape) if isinstance(scores, Tensor) else type(scores)
        raise InvalidInputError(
            f"scores must be a tensor of shape ({n_errors}, {length}) (one row per "
            f"error, one score per position); got {shape}"
        )
    if not bool(torch.isfinite(scores).all()):
        raise InvalidInputError("scores hold NaN or infinite values")
    if feature_mask is not None and feature_mask.shape != scores.shape:
        raise InvalidInputError(
            f"feature_mask must have the shape of scores {tuple(scores.shape)}; got "
            f"{tuple(feature_mask.shape)}"
        )

    scores = scores.detach().cpu()
    mask = None if feature_mask is None else feature_mask.detach().cpu().to(torch.bool)
    rows = tokens[errors.window].clone()
    row_labels = labels[errors.window].clone()
    order = rank_positions(scores, errors.position, mask)
    chosen = choose_positions(
        rows,
        order,
        errors.position,
        errors.is_false_negative | keep_fp_target,
        n_features=min(n_features, length),
        neutral_token=neutral_token,
        skip_neutral=skip_neutral,
    )

    which, slot = torch.nonzero(chosen >= 0, as_tuple=True)
    rows[which, chosen[which, slot]] = neutral_token
    row_labels[which, chosen[which, slot]] = 0
    copies = torch.where(
        errors.is_false_negative,
        torch.tensor(fn_copies),
        torch.tensor(fp_copies),
    )
    error_index = torch.repeat_interleave(torch.arange(n_errors), copies)
    return CraftedSamples(
        rows[error_index], row_labels[error_index], error_index, chosen
    )
