"""Perturbation samplers: which input elements form the features, and random masks.

Every sampler describes the features of an explained input by a *feature map*, an
int64 tensor with the input's shape that gives each element's feature index, or -1
for elements that are never perturbed:

* ``tabular``: every element of a (p,) input is its own feature.
* ``sequence``: the ``window`` positions around the explained position of an (L,)
  sequence; the other positions are not features.
* ``image``: every pixel of an (H, W) or (C, H, W) image (the channels of a pixel
  together), or every segment of an integer segment mask.

A perturbed copy keeps the features whose mask bit is 1 and sets the others to the
baseline value (:func:`perturb`). Masks are drawn as in LIME and the seed code: the
first sample is the unperturbed input (all ones); every other sample switches off a
number of features drawn uniformly from 1..p, chosen uniformly at random
(:func:`sample_masks`).

Randomness: :func:`input_generators` gives one ``torch.Generator`` per explained
input, seeded from the run's seed and the input's content and target, so an input's
explanation does not depend on the other inputs of the batch nor on the batch size.
"""

from __future__ import annotations

import hashlib
import math
from collections.abc import Sequence

import torch
from torch import Tensor

from torchxai.errors import InvalidInputError

SAMPLERS = ("tabular", "sequence", "image")


def infer_sampler(inputs: Tensor, labeller: bool) -> str:
    """Choose the sampler for a batch of inputs.

    Args:
        inputs: (B, *input_shape) the explained inputs.
        labeller: whether the model labels every position of a sequence.

    Returns:
        ``"sequence"`` for a sequence labeller, ``"tabular"`` for (B, p) inputs,
        ``"image"`` for (B, H, W) and (B, C, H, W) inputs.
    """
    if labeller:
        return "sequence"
    if inputs.dim() == 2:
        return "tabular"
    if inputs.dim() in (3, 4):
        return "image"
    raise InvalidInputError(
        f"cannot choose a sampler for inputs of shape {tuple(inputs.shape)}: expected "
        "(B, p) tabular, (B, L) sequence, (B, H, W) or (B, C, H, W) image inputs"
    )


def tabular_feature_map(inputs: Tensor) -> Tensor:
    """Every element is a feature.

    Args:
        inputs: (B, *input_shape).

    Returns:
        (B, *input_shape) int64, the flat element index of each element.
    """
    numel = math.prod(inputs.shape[1:])
    flat = torch.arange(numel, device=inputs.device)
    return flat.reshape(inputs.shape[1:]).expand(inputs.shape).clone()


def window_bounds(positions: Tensor, length: int, window: int) -> Tensor:
    """First position of the window around each explained position.

    The window holds ``min(window, length)`` positions, from
    ``position - window // 2``, shifted to lie inside the sequence. (The seed code's
    window of 40 spans 41 positions, ``position - 20 .. position + 20``; this one
    spans exactly ``window`` positions, ``position - 20 .. position + 19``.)

    Args:
        positions: (B,) int64 explained positions.
        length: the sequence length L.
        window: the number of positions.

    Returns:
        (B,) int64 first positions.
    """
    width = min(window, length)
    return (positions - window // 2).clamp(min=0, max=length - width)


def sequence_feature_map(inputs: Tensor, positions: Tensor, window: int) -> Tensor:
    """The positions of a window around the explained position are the features.

    Args:
        inputs: (B, L) sequences.
        positions: (B,) int64 explained positions.
        window: the number of positions in the window.

    Returns:
        (B, L) int64: 0..w-1 inside the window, -1 outside.
    """
    if inputs.dim() != 2:
        raise InvalidInputError(
            f"sampler='sequence' expects (B, L) sequences; got inputs of shape "
            f"{tuple(inputs.shape)}"
        )
    length = inputs.shape[1]
    start = window_bounds(positions.to(inputs.device), length, window)
    offset = torch.arange(length, device=inputs.device)[None, :] - start[:, None]
    width = min(window, length)
    return torch.where((offset >= 0) & (offset < width), offset, -1)


def image_feature_map(inputs: Tensor, segments: Tensor | None) -> Tensor:
    """Pixels or segments are the features; the channels of a pixel go together.

    Args:
        inputs: (B, H, W) or (B, C, H, W) images.
        segments: None for pixels, or an integer mask (H, W) shared by all images or
            (B, H, W) per image; any integer labels, relabelled 0..S-1 per image in
            increasing label order.

    Returns:
        (B, *input_shape) int64 feature index of each element.
    """
    if inputs.dim() not in (3, 4):
        raise InvalidInputError(
            f"sampler='image' expects (B, H, W) or (B, C, H, W) images; got inputs of "
            f"shape {tuple(inputs.shape)}"
        )
    batch, height, width = inputs.shape[0], inputs.shape[-2], inputs.shape[-1]
    if segments is None:
        pixel = torch.arange(height * width, device=inputs.device).reshape(
            height, width
        )
        plane = pixel.expand(batch, height, width)
    else:
        plane = _relabel_segments(segments, batch, height, width).to(inputs.device)
    if inputs.dim() == 4:
        plane = plane[:, None].expand(inputs.shape)
    return plane.clone()


def _relabel_segments(segments: Tensor, batch: int, height: int, width: int) -> Tensor:
    if (
        not isinstance(segments, Tensor)
        or segments.is_floating_point()
        or (segments.dtype == torch.bool)
    ):
        raise InvalidInputError(
            f"segments must be an integer tensor of shape ({height}, {width}) or "
            f"({batch}, {height}, {width}); got {_describe(segments)}"
        )
    if segments.shape == (height, width):
        segments = segments.expand(batch, height, width)
    if segments.shape != (batch, height, width):
        raise InvalidInputError(
            f"segments must have shape ({height}, {width}) or ({batch}, {height}, "
            f"{width}) to match the images; got shape {tuple(segments.shape)}"
        )
    planes = [torch.unique(plane, return_inverse=True)[1] for plane in segments]
    return torch.stack(planes).to(torch.int64)


def feature_counts(feature_map: Tensor) -> Tensor:
    """The number of features of each input.

    Args:
        feature_map: (B, *input_shape) int64.

    Returns:
        (B,) int64, one more than the largest feature index (0 if none).
    """
    flat = feature_map.reshape(feature_map.shape[0], -1)
    return (flat.max(dim=1).values + 1).clamp(min=0)


def drop_baseline_features(
    feature_map: Tensor, inputs: Tensor, baseline: Tensor
) -> Tensor:
    """The feature map without the features that already sit at the baseline.

    Switching off a feature whose elements all equal the baseline leaves the input
    unchanged, so no perturbation can say anything about it: it is dropped (-1), as
    the dummy axiom of attribution asks for a feature that changes nothing. The
    other features keep their order and are numbered 0..p'-1 again.

    Args:
        feature_map: (B, *input_shape) int64 feature of each element, -1 if none.
        inputs: (B, *input_shape) the explained inputs.
        baseline: broadcastable to ``inputs``: the value of a switched-off element.

    Returns:
        (B, *input_shape) int64, the map of the features with an element away from
        the baseline.
    """
    batch = inputs.shape[0]
    flat_map = feature_map.reshape(batch, -1)
    if flat_map.numel() == 0:
        return feature_map.clone()
    width = max(int(flat_map.max()) + 1, 1)
    base = torch.broadcast_to(baseline.to(inputs.device), inputs.shape)
    away = (inputs != base).reshape(batch, -1) & (flat_map >= 0)
    index = flat_map.clamp(min=0)
    moves = torch.zeros(batch, width, dtype=torch.int64, device=inputs.device)
    moves.scatter_add_(1, index, away.to(torch.int64))
    kept = moves > 0
    renumbered = kept.cumsum(dim=1) - 1
    keep_element = (flat_map >= 0) & kept.gather(1, index)
    out = torch.where(keep_element, renumbered.gather(1, index), -1)
    return out.reshape(feature_map.shape)


def sample_masks(n_samples: int, n_features: int, generator: torch.Generator) -> Tensor:
    """Random binary keep-masks, the first one all ones.

    Sample i > 0 switches off ``k_i`` features, ``k_i`` uniform on 1..p, chosen
    uniformly without replacement.

    Args:
        n_samples: the number n of masks, including the all-ones first one.
        n_features: the number p of features.
        generator: a CPU generator.

    Returns:
        (n, p) bool on the CPU; True keeps the feature.
    """
    n_off = torch.randint(1, n_features + 1, (n_samples - 1, 1), generator=generator)
    noise = torch.rand(n_samples - 1, n_features, generator=generator)
    # the n_off features with the smallest noise go off: by rank, with one sort
    order = noise.argsort(dim=1)
    ranks = torch.arange(n_features).expand(n_samples - 1, n_features)
    keep = torch.empty(n_samples - 1, n_features, dtype=torch.bool)
    keep.scatter_(1, order, ranks >= n_off)
    return torch.cat([torch.ones(1, n_features, dtype=torch.bool), keep])


def perturb(
    inputs: Tensor, feature_map: Tensor, masks: Tensor, baseline: Tensor
) -> Tensor:
    """Perturbed copies: features with mask 0 take the baseline value.

    Args:
        inputs: (N, *input_shape) the input of each copy.
        feature_map: (N, *input_shape) int64 feature index of each element, -1 for
            elements that are kept in every copy.
        masks: (N, p) bool keep-mask of each copy.
        baseline: a tensor broadcastable to (N, *input_shape).

    Returns:
        (N, *input_shape) perturbed inputs with the dtype of ``inputs``.
    """
    count = inputs.shape[0]
    flat_map = feature_map.reshape(count, -1)
    padded = torch.cat(
        [masks, torch.ones(count, 1, dtype=torch.bool, device=masks.device)], dim=1
    )
    index = torch.where(flat_map < 0, masks.shape[1], flat_map)
    keep = torch.gather(padded, 1, index).reshape(inputs.shape)
    return torch.where(keep, inputs, baseline.to(inputs.dtype))


def input_generators(
    seed: int, inputs: Tensor, target: Tensor
) -> list[torch.Generator]:
    """One CPU generator per input, seeded from the seed, the input and its target.

    Args:
        seed: the run's seed.
        inputs: (B, *input_shape).
        target: (B,) or (B, 2) int64 targets.

    Returns:
        B seeded ``torch.Generator`` objects on the CPU.
    """
    host_inputs = inputs.detach().cpu().contiguous()
    host_target = target.detach().cpu().to(torch.int64).contiguous()
    generators = []
    for row, tgt in zip(host_inputs, host_target, strict=True):
        digest = hashlib.blake2b(digest_size=8)
        digest.update(str(int(seed)).encode())
        digest.update(str(row.dtype).encode() + str(tuple(row.shape)).encode())
        digest.update(row.reshape(-1).view(torch.uint8).numpy().tobytes())
        digest.update(tgt.numpy().tobytes())
        value = int.from_bytes(digest.digest(), "little") & ((1 << 63) - 1)
        generators.append(torch.Generator().manual_seed(value))
    return generators


def stack_masks(
    generators: Sequence[torch.Generator], n_samples: int, n_features: int
) -> Tensor:
    """Draw the masks of several inputs with the same number of features.

    Args:
        generators: one generator per input.
        n_samples: masks per input.
        n_features: features per input.

    Returns:
        (G, n, p) bool on the CPU.
    """
    return torch.stack([sample_masks(n_samples, n_features, g) for g in generators])


def _describe(value: object) -> str:
    if isinstance(value, Tensor):
        return f"a {value.dtype} tensor of shape {tuple(value.shape)}"
    return f"{type(value).__name__} {value!r}"
