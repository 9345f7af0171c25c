"""Samplers: feature maps, random masks, perturbation, per-input generators."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from torchxai.errors import InvalidInputError
from torchxai.samplers import (
    drop_baseline_features,
    feature_counts,
    image_feature_map,
    infer_sampler,
    input_generators,
    perturb,
    sample_masks,
    sequence_feature_map,
    tabular_feature_map,
    window_bounds,
)


def test_masks_first_row_is_the_input_and_others_switch_features_off() -> None:
    masks = sample_masks(400, 12, torch.Generator().manual_seed(3))
    assert masks.shape == (400, 12) and masks.dtype == torch.bool
    assert bool(masks[0].all())
    n_off = (~masks[1:]).sum(dim=1)
    assert int(n_off.min()) >= 1 and int(n_off.max()) <= 12


def test_masks_follow_the_documented_distribution() -> None:
    # k ~ U{1..p} switched off, chosen uniformly: E[k] = (p + 1) / 2 and each
    # feature is off with probability E[k] / p = (p + 1) / (2p).
    p, n = 10, 20001
    masks = sample_masks(n, p, torch.Generator().manual_seed(0))[1:]
    n_off = (~masks).sum(dim=1).numpy()
    counts = np.bincount(n_off, minlength=p + 1)[1:]
    expected = (n - 1) / p
    chi2 = float(((counts - expected) ** 2 / expected).sum())
    assert chi2 < 35.0  # 9 degrees of freedom: p(chi2 > 35) < 1e-4
    off_rate = (~masks).double().mean(dim=0).numpy()
    np.testing.assert_allclose(off_rate, (p + 1) / (2 * p), atol=0.02)


def test_masks_repeat_with_the_same_generator_seed() -> None:
    first = sample_masks(50, 7, torch.Generator().manual_seed(5))
    again = sample_masks(50, 7, torch.Generator().manual_seed(5))
    other = sample_masks(50, 7, torch.Generator().manual_seed(6))
    assert torch.equal(first, again)
    assert not torch.equal(first, other)


def test_perturb_matches_an_elementwise_loop() -> None:
    gen = torch.Generator().manual_seed(1)
    inputs = torch.rand(4, 3, 5, generator=gen)
    feature_map = torch.randint(-1, 6, (4, 3, 5), generator=gen)
    masks = torch.rand(4, 6, generator=gen) < 0.5
    baseline = torch.full((4, 3, 5), -7.0)
    out = perturb(inputs, feature_map, masks, baseline)
    expected = inputs.clone()
    for b in range(4):
        for i in range(3):
            for j in range(5):
                feature = int(feature_map[b, i, j])
                if feature >= 0 and not bool(masks[b, feature]):
                    expected[b, i, j] = -7.0
    assert torch.equal(out, expected)


def test_perturb_keeps_integer_tokens() -> None:
    tokens = torch.tensor([[5, 6, 7, 8]])
    feature_map = torch.tensor([[-1, 0, 1, -1]])
    out = perturb(tokens, feature_map, torch.tensor([[False, True]]), torch.tensor(0))
    assert out.dtype == torch.int64
    assert out.tolist() == [[5, 0, 7, 8]]


def test_tabular_map_numbers_every_element() -> None:
    fmap = tabular_feature_map(torch.zeros(3, 6))
    assert fmap.tolist() == [list(range(6))] * 3
    assert feature_counts(fmap).tolist() == [6, 6, 6]


@pytest.mark.parametrize(
    ("position", "length", "window"),
    [
        (50, 200, 40),
        (3, 200, 40),
        (198, 200, 40),
        (0, 10, 40),
        (7, 30, 5),
        (20, 40, 40),
    ],
)
def test_sequence_window_matches_a_reference(
    position: int, length: int, window: int
) -> None:
    fmap = sequence_feature_map(
        torch.ones(1, length, dtype=torch.int64), torch.tensor([position]), window
    )[0]
    width = min(window, length)
    start = min(max(position - window // 2, 0), length - width)
    expected = [i - start if start <= i < start + width else -1 for i in range(length)]
    assert fmap.tolist() == expected
    assert int(window_bounds(torch.tensor([position]), length, window)[0]) == start
    assert int(fmap[position]) >= 0  # the explained position is a feature


def test_image_pixels_and_channels_share_a_feature() -> None:
    fmap = image_feature_map(torch.zeros(2, 3, 4, 5), None)
    assert fmap.shape == (2, 3, 4, 5)
    assert torch.equal(fmap[:, 0], fmap[:, 2])
    assert fmap[0, 0].flatten().tolist() == list(range(20))


def test_image_segments_are_relabelled_per_image() -> None:
    shared = torch.tensor([[10, 10, 3], [7, 7, 3]])
    fmap = image_feature_map(torch.zeros(2, 2, 3), shared)
    assert fmap[0].tolist() == [[2, 2, 0], [1, 1, 0]]
    per_image = torch.stack([shared, torch.zeros(2, 3, dtype=torch.int64)])
    fmap = image_feature_map(torch.zeros(2, 2, 3), per_image)
    assert feature_counts(fmap).tolist() == [3, 1]


@pytest.mark.parametrize(
    "segments",
    [torch.zeros(3, 3, dtype=torch.int64), torch.zeros(2, 3, dtype=torch.float32)],
)
def test_bad_segments_are_refused(segments: torch.Tensor) -> None:
    with pytest.raises(InvalidInputError, match="segments"):
        image_feature_map(torch.zeros(1, 2, 3), segments)


def test_infer_sampler() -> None:
    assert infer_sampler(torch.zeros(2, 5), labeller=False) == "tabular"
    assert (
        infer_sampler(torch.zeros(2, 5, dtype=torch.int64), labeller=True) == "sequence"
    )
    assert infer_sampler(torch.zeros(2, 4, 4), labeller=False) == "image"
    assert infer_sampler(torch.zeros(2, 1, 4, 4), labeller=False) == "image"
    with pytest.raises(InvalidInputError, match="sampler"):
        infer_sampler(torch.zeros(2, 1, 1, 4, 4), labeller=False)


def test_generators_depend_on_seed_input_and_target_not_on_batch_position() -> None:
    x = torch.rand(3, 4)
    target = torch.tensor([0, 1, 0])

    def draws(gens: list[torch.Generator]) -> list[float]:
        return [float(torch.rand(1, generator=g)) for g in gens]

    full = draws(input_generators(0, x, target))
    alone = draws(input_generators(0, x[2:], target[2:]))
    assert alone[0] == full[2]
    swapped = draws(input_generators(0, x.flip(0), target.flip(0)))
    assert swapped == full[::-1]
    assert draws(input_generators(1, x, target)) != full
    assert draws(input_generators(0, x, 1 - target)) != full


def _drop_by_loop(feature_map, inputs, baseline):  # type: ignore[no-untyped-def]
    """Reference: per input, keep a feature if any element differs; renumber."""
    base = torch.broadcast_to(baseline, inputs.shape)
    out = torch.full_like(feature_map, -1)
    for b in range(inputs.shape[0]):
        fmap, x, z = feature_map[b].flatten(), inputs[b].flatten(), base[b].flatten()
        moving = sorted(
            {int(f) for f, v, w in zip(fmap, x, z, strict=True) if f >= 0 and v != w}
        )
        renumber = {f: j for j, f in enumerate(moving)}
        flat = out[b].view(-1)
        for i, f in enumerate(fmap.tolist()):
            if f in renumber:
                flat[i] = renumber[f]
    return out


def test_drop_baseline_features_matches_a_loop_on_every_sampler() -> None:
    g = torch.Generator().manual_seed(0)
    table = (torch.rand(5, 9, generator=g) > 0.5).float()
    table[3] = 0.0  # all at the baseline: no feature left
    image = (torch.rand(3, 2, 4, 4, generator=g) > 0.7).float()  # channels together
    segments = torch.arange(16).reshape(4, 4) // 5
    tokens = torch.randint(0, 3, (4, 30), generator=g)
    cases = [
        (tabular_feature_map(table), table, torch.tensor(0.0)),
        (tabular_feature_map(table), table, torch.tensor([1.0] * 9)),
        (image_feature_map(image, None), image, torch.tensor(0.0)),
        (image_feature_map(image[:, 0], segments), image[:, 0], torch.tensor(0.0)),
        (sequence_feature_map(tokens, torch.tensor([0, 5, 15, 29]), 8), tokens,
         torch.tensor(0)),
    ]  # fmt: skip
    for feature_map, inputs, baseline in cases:
        got = drop_baseline_features(feature_map, inputs, baseline)
        assert torch.equal(got, _drop_by_loop(feature_map, inputs, baseline))
    # a pixel goes only when both of its channels sit at the baseline
    one = torch.zeros(1, 2, 1, 2)
    one[0, 1, 0, 0] = 1.0
    kept = drop_baseline_features(image_feature_map(one, None), one, torch.tensor(0.0))
    assert kept[0, :, 0].tolist() == [[0, -1], [0, -1]]
