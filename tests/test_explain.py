"""torchxai.explain: shapes, targets, determinism, samplers and every bad input."""

from __future__ import annotations

from typing import Any

import pytest
import torch
from torch import Tensor, nn

import torchxai
from torchxai import Explanation, explain
from torchxai.errors import FitError, InvalidInputError
from torchxai.methods import available_methods, get_method, register_method

FAST = {"n_components": 2, "em_iter": 6, "n_samples": 100}


class SparseLogistic(nn.Module):
    """Two-class probabilities from a logistic model on a few features."""

    def __init__(self, p: int, weights: dict[int, float], bias: float = 0.0) -> None:
        super().__init__()
        self.linear = nn.Linear(p, 1)
        with torch.no_grad():
            self.linear.weight.zero_()
            for index, value in weights.items():
                self.linear.weight[0, index] = value
            self.linear.bias.fill_(bias)

    def forward(self, x: Tensor) -> Tensor:
        logit = self.linear(x)[:, 0]
        return torch.stack([-logit, logit], dim=-1).mul(0.5).softmax(dim=-1)


class ToyLabeller(nn.Module):
    """Position i is class 1 when tokens i-1 and i+2 are present (nonzero)."""

    def __init__(self) -> None:
        super().__init__()
        self.scale = nn.Parameter(torch.tensor(1.0))

    def forward(self, tokens: Tensor) -> Tensor:
        present = (tokens != 0).float()
        left = nn.functional.pad(present, (1, 0))[:, :-1]
        right = nn.functional.pad(present, (0, 2))[:, 2:]
        logit = self.scale * (4 * left + 3 * right - 3.5)
        return torch.stack([-logit, logit], dim=-1)


class RegionImageModel(nn.Module):
    """10 classes; class 3's logit is the mean brightness of the top-left 3x3 block."""

    def __init__(self) -> None:
        super().__init__()
        self.gain = nn.Parameter(torch.tensor(8.0))

    def forward(self, images: Tensor) -> Tensor:
        images = images.reshape(images.shape[0], -1, images.shape[-2], images.shape[-1])
        block = images[:, :, :3, :3].mean(dim=(1, 2, 3))
        logits = torch.zeros(images.shape[0], 10, device=images.device)
        logits[:, 3] = self.gain * (block - 0.5)
        return logits


def _segments() -> Tensor:
    """A 6x6 mask of four 3x3 quadrants labelled 10, 20, 30, 40."""
    seg = torch.zeros(6, 6, dtype=torch.int64)
    seg[:3, :3], seg[:3, 3:], seg[3:, :3], seg[3:, 3:] = 10, 20, 30, 40
    return seg


def _tabular() -> tuple[nn.Module, Tensor]:
    model = SparseLogistic(6, {1: 3.0, 4: -2.0}, bias=0.5).eval()
    x = (torch.rand(3, 6) < 0.7).float()
    x[:, 1] = 1.0
    return model, x


# ---------------------------------------------------------------- shapes


@pytest.mark.parametrize("method", ["lemna", "lime", "random"])
def test_scores_have_the_input_shape_for_every_sampler(method: str) -> None:
    opts: dict[str, Any] = dict(FAST) if method == "lemna" else {"n_samples": 100}
    model, x = _tabular()
    exp = explain(model, x, method=method, **opts)
    assert exp.scores.shape == x.shape and exp.feature_map.shape == x.shape
    single = explain(model, x[0], method=method, **opts)
    assert single.scores.shape == (1, 6)

    tokens = torch.randint(1, 257, (2, 30))
    exp = explain(
        ToyLabeller(),
        tokens,
        method,
        target=(12, 1),
        output="logits",
        window=10,
        **opts,
    )
    assert exp.scores.shape == (2, 30) and exp.target.tolist() == [[12, 1], [12, 1]]
    assert bool((exp.scores[:, :7] == 0).all() and (exp.scores[:, 17:] == 0).all())

    images = torch.rand(2, 6, 6)
    exp = explain(
        RegionImageModel(),
        images,
        method,
        target=3,
        output="logits",
        segments=_segments(),
        **opts,
    )
    assert exp.scores.shape == (2, 6, 6)
    channels = explain(
        RegionImageModel(),
        images[:, None],
        method,
        target=3,
        output="logits",
        segments=_segments(),
        **opts,
    )
    assert channels.scores.shape == (2, 1, 6, 6)
    if method != "random":
        assert exp.coefficients is not None and exp.coefficients.shape[-1] == 4


def test_explanation_fields() -> None:
    model, x = _tabular()
    exp = explain(model, x, **FAST)
    assert isinstance(exp, Explanation) and exp.method == "lemna" and exp.seed == 0
    assert exp.coefficients is not None and exp.coefficients.shape == (3, 2, 6)
    assert exp.component is not None and exp.component.shape == (3,)
    assert exp.mixing_weights is not None
    torch.testing.assert_close(exp.mixing_weights.sum(1), torch.ones(3))
    chosen = exp.coefficients[torch.arange(3), exp.component]
    torch.testing.assert_close(exp.scores, chosen)
    torch.testing.assert_close(
        exp.target_probability, model(x)[torch.arange(3), exp.target]
    )
    assert exp.options["n_components"] == 2 and exp.options["sampler"] == "tabular"
    # lam2="auto": no fusion of table columns
    assert exp.options["n_samples"] == 100 and exp.options["lam2"] == 0.0
    assert bool(torch.isfinite(exp.fit_rmse).all())


# --------------------------------------------------------------- targets


def test_default_target_is_the_predicted_class() -> None:
    model, x = _tabular()
    x[0, 1], x[1, 1] = 0.0, 1.0
    exp = explain(model, x, method="random")
    assert exp.target.tolist() == model(x).argmax(1).tolist()
    given = explain(model, x, method="random", target=torch.tensor([0, 1, 0]))
    assert given.target.tolist() == [0, 1, 0]
    assert explain(model, x, method="random", target=1).target.tolist() == [1, 1, 1]


def test_sequence_target_class_defaults_to_the_prediction_at_the_position() -> None:
    tokens = torch.randint(1, 257, (2, 30))
    tokens[1, 11] = 0  # position 12 loses its left neighbour: class 0 there
    exp = explain(ToyLabeller(), tokens, "random", target=(12, None), output="logits")
    assert exp.target.tolist() == [[12, 1], [12, 0]]
    pairs = torch.tensor([[3, 0], [20, 1]])
    assert (
        explain(
            ToyLabeller(), tokens, "random", target=pairs, output="logits"
        ).target.tolist()
        == pairs.tolist()
    )


def test_lemna_finds_the_positions_a_sequence_labeller_reads() -> None:
    torch.manual_seed(1)
    tokens = torch.randint(1, 257, (2, 60))
    exp = explain(
        ToyLabeller(),
        tokens,
        target=(30, 1),
        output="logits",
        n_samples=200,
        n_components=3,
        em_iter=10,
    )
    assert exp.options["sampler"] == "sequence"
    for row in range(2):
        assert set(exp.top_k(2)[row].tolist()) == {29, 32}
        outside = exp.feature_map[row] < 0
        assert int(outside.sum()) == 20 and bool((exp.scores[row][outside] == 0).all())


def test_segments_are_ranked_as_wholes() -> None:
    images = torch.rand(2, 6, 6) * 0.5 + 0.5
    exp = explain(
        RegionImageModel(),
        images,
        "lemna",
        target=3,
        output="logits",
        segments=_segments(),
        **FAST,
    )
    seg = _segments()
    for row in range(2):
        for label in (10, 20, 30, 40):
            values = exp.scores[row][seg == label]
            assert bool((values == values[0]).all())
        top = exp.top_k(9)[row]
        assert set(top.tolist()) == set(
            torch.nonzero(seg.flatten() == 10).flatten().tolist()
        )


def test_image_pixels_need_as_many_samples_as_pixels() -> None:
    images = torch.rand(1, 6, 6) * 0.5 + 0.5
    exp = explain(
        RegionImageModel(), images, "lime", target=3, output="logits", n_samples=200
    )
    assert exp.feature_map.max().item() == 35
    assert set(exp.top_k(9)[0].tolist()) == {0, 1, 2, 6, 7, 8, 12, 13, 14}


# ----------------------------------------------------------- determinism


def test_same_seed_same_explanation_and_batch_split_does_not_matter() -> None:
    model, x = _tabular()
    first = explain(model, x, seed=3, **FAST)
    again = explain(model, x, seed=3, **FAST)
    small_batches = explain(model, x, seed=3, batch_size=7, **FAST)
    assert torch.equal(first.scores, again.scores)
    assert torch.equal(first.scores, small_batches.scores)
    assert torch.equal(first.fit_rmse, small_batches.fit_rmse)
    chunked = explain(model, x, seed=3, fit_batch_size=1, **FAST)
    torch.testing.assert_close(chunked.scores, first.scores, atol=1e-6, rtol=1e-5)
    one_by_one = [explain(model, x[i : i + 1], seed=3, **FAST) for i in range(3)]
    for i, single in enumerate(one_by_one):
        torch.testing.assert_close(
            single.scores[0], first.scores[i], atol=1e-6, rtol=1e-5
        )
    other_seed = explain(model, x, seed=4, **FAST)
    assert not torch.equal(first.scores, other_seed.scores)


def test_random_scores_repeat_and_depend_on_the_seed() -> None:
    model, x = _tabular()
    first = explain(model, x, method="random", seed=11)
    assert torch.equal(first.scores, explain(model, x, method="random", seed=11).scores)
    assert not torch.equal(
        first.scores, explain(model, x, method="random", seed=12).scores
    )
    assert bool(((first.scores >= 0) & (first.scores < 1)).all())
    assert bool(first.fit_rmse.isnan().all()) and first.coefficients is None


def test_logits_option_equals_a_model_returning_probabilities() -> None:
    model = ToyLabeller()
    tokens = torch.randint(1, 257, (1, 40))

    def probabilities(t: Tensor) -> Tensor:
        return model(t).softmax(dim=-1)

    a = explain(model, tokens, "lime", target=(20, 1), output="logits", n_samples=100)
    b = explain(probabilities, tokens, "lime", target=(20, 1), n_samples=100)
    assert torch.equal(a.scores, b.scores)


def test_a_plain_callable_and_a_progress_bar(
    capsys: pytest.CaptureFixture[str],
) -> None:
    model, x = _tabular()
    exp = explain(lambda t: model(t), x, "lime", n_samples=50, progress=True)
    assert exp.scores.shape == x.shape
    assert "lime fits" in capsys.readouterr().err  # tqdm writes to stderr


# ------------------------------------------------------------- registry


def test_registry_lists_the_methods_and_accepts_new_ones() -> None:
    assert {"lemna", "lime", "random"} <= set(available_methods())
    assert get_method("lemna").defaults["n_components"] == 6

    def constant(task: Any, options: dict[str, Any]) -> Explanation:
        return Explanation(
            scores=torch.full(task.inputs.shape, float(options["value"])),
            method="constant",
            target=task.target,
            fit_rmse=torch.zeros(task.batch_size),
        )

    register_method("constant-test", constant, defaults={"value": 2.0}, overwrite=True)
    model, x = _tabular()
    exp = explain(model, x, "constant-test", value=5.0)
    assert bool((exp.scores == 5.0).all())
    with pytest.raises(InvalidInputError, match="already registered"):
        register_method("constant-test", constant)


def test_global_methods_register_on_first_use() -> None:
    spec = get_method("dmm_men")
    assert spec.name == "dmm_men" and spec.requires_grad
    assert {"dmm", "dmm_men"} <= set(available_methods())


# ------------------------------------------------------------ bad input


def test_unknown_method_and_option() -> None:
    model, x = _tabular()
    with pytest.raises(InvalidInputError, match="unknown method 'shap'.*lemna"):
        explain(model, x, method="shap")
    with pytest.raises(
        InvalidInputError, match="unknown option n_component .*n_components"
    ):
        explain(model, x, n_component=3)
    with pytest.raises(InvalidInputError, match="unknown option kernel_width"):
        explain(model, x, method="lemna", kernel_width=0.3)


@pytest.mark.parametrize(
    ("options", "match"),
    [
        ({"n_components": 0}, "n_components must be an integer >= 1; got 0"),
        ({"lam1": -1.0}, "lam1 must be a finite number >= 0"),
        ({"lam2": float("nan")}, "lam2 must be a finite number"),
        ({"penalty_scale": "log"}, "penalty_scale must be one of"),
        ({"em_iter": 2.5}, "em_iter must be an integer"),
        ({"n_samples": 1}, "n_samples must be an integer >= 2"),
        ({"seed": -1}, "seed must be an integer >= 0"),
        ({"output": "scores"}, "output must be one of"),
        ({"sampler": "graph"}, "sampler must be one of"),
        ({"batch_size": 0}, "batch_size must be an integer >= 1"),
        ({"progress": "yes"}, "progress must be True or False"),
        ({"baseline": "zero"}, "baseline must be a number or a tensor"),
        ({"baseline": torch.zeros(5)}, r"baseline of shape \(5,\) does not broadcast"),
        (
            {"segments": torch.zeros(6, dtype=torch.int64)},
            "segments is for sampler='image'",
        ),
        ({"sampler": "sequence"}, "needs a sequence labeller"),
    ],
)
def test_bad_option_values(options: dict[str, Any], match: str) -> None:
    model, x = _tabular()
    with pytest.raises(InvalidInputError, match=match):
        explain(model, x, **options)


def test_lime_option_values() -> None:
    model, x = _tabular()
    with pytest.raises(
        InvalidInputError, match="kernel_width must be a finite number > 0"
    ):
        explain(model, x, "lime", kernel_width=0.0)
    with pytest.raises(InvalidInputError, match="num_features must be an integer >= 1"):
        explain(model, x, "lime", num_features=0)


def test_target_out_of_range() -> None:
    model, x = _tabular()
    with pytest.raises(InvalidInputError, match="target class 2 .* has 2 classes"):
        explain(model, x, target=2)
    with pytest.raises(InvalidInputError, match="target class -1"):
        explain(model, x, target=torch.tensor([0, -1, 1]))
    with pytest.raises(InvalidInputError, match="3 class indices"):
        explain(model, x, target=[0, 1])
    with pytest.raises(InvalidInputError, match="must be integers"):
        explain(model, x, target=0.5)
    tokens = torch.randint(1, 257, (2, 30))
    with pytest.raises(InvalidInputError, match="target position 30 .* 30 positions"):
        explain(ToyLabeller(), tokens, target=(30, 1), output="logits")
    with pytest.raises(InvalidInputError, match="target class 2"):
        explain(ToyLabeller(), tokens, target=(3, 2), output="logits")
    with pytest.raises(InvalidInputError, match="must name the position"):
        explain(ToyLabeller(), tokens, target=1, output="logits")
    with pytest.raises(InvalidInputError, match="must name the position"):
        explain(ToyLabeller(), tokens, output="logits")


def test_model_outputs_of_the_wrong_shape_or_kind() -> None:
    x = torch.rand(3, 6)
    with pytest.raises(InvalidInputError, match=r"returned shape \(3,\)"):
        explain(lambda t: t.sum(1), x)
    with pytest.raises(
        InvalidInputError, match=r"returned shape \(1, 2\) .* of 3 inputs"
    ):
        explain(lambda t: torch.full((1, 2), 0.5), x)
    with pytest.raises(InvalidInputError, match="must return a tensor"):
        explain(lambda t: [0.5, 0.5], x)
    with pytest.raises(InvalidInputError, match="not probabilities.*output='logits'"):
        explain(lambda t: t[:, :2] * 3 - 1, x)
    with pytest.raises(InvalidInputError, match="floating point"):
        explain(lambda t: (t[:, :2] > 0.5).long(), x)


def test_model_returning_nan() -> None:
    x = torch.rand(3, 6) + 0.1

    def nan_on_second_input(t: Tensor) -> Tensor:
        logits = torch.stack([t[:, 0], -t[:, 0]], 1)
        logits[1] = float("nan")
        return logits

    with pytest.raises(InvalidInputError, match="NaN or infinite values on x: 1 of 3"):
        explain(nan_on_second_input, x, output="logits")

    def nan_when_perturbed(t: Tensor) -> Tensor:
        logit = t.sum(1).where((t != 0).all(1), torch.tensor(float("nan")))
        return torch.stack([-logit, logit], 1)

    with pytest.raises(
        InvalidInputError, match="NaN or infinite values on perturbed copies"
    ):
        explain(nan_when_perturbed, x, "lime", output="logits", n_samples=20)


def test_model_raising_is_reported() -> None:
    def broken(t: Tensor) -> Tensor:
        raise RuntimeError("mat1 and mat2 shapes cannot be multiplied")

    with pytest.raises(FitError, match="the model raised RuntimeError on x .*mat1"):
        explain(broken, torch.rand(2, 6))


def test_inputs_on_another_device_than_the_model() -> None:
    model = SparseLogistic(6, {0: 1.0}).to("meta")
    with pytest.raises(
        InvalidInputError,
        match="x is on device cpu but the model's parameters are on meta",
    ):
        explain(model, torch.rand(2, 6))


def test_fewer_samples_than_features() -> None:
    model = SparseLogistic(50, {0: 1.0}).eval()
    with pytest.raises(
        InvalidInputError, match="n_samples=40 is fewer than the 50 features"
    ):
        explain(model, torch.rand(2, 50), n_samples=40)
    with pytest.raises(
        InvalidInputError, match="fewer than the 36 features.*segments="
    ):
        explain(
            RegionImageModel(),
            torch.rand(1, 6, 6),
            "lime",
            target=3,
            output="logits",
            n_samples=30,
        )


def test_bad_inputs() -> None:
    model, _ = _tabular()
    with pytest.raises(InvalidInputError, match="x must be a torch.Tensor"):
        explain(model, [[0.0] * 6])
    with pytest.raises(InvalidInputError, match="empty batch"):
        explain(model, torch.zeros(0, 6))
    with pytest.raises(InvalidInputError, match="NaN"):
        explain(model, torch.full((1, 6), float("nan")))
    with pytest.raises(InvalidInputError, match="baseline must hold integers"):
        explain(
            ToyLabeller(),
            torch.randint(1, 9, (1, 20)),
            target=(3, 1),
            output="logits",
            baseline=0.5,
        )


def test_package_exports() -> None:
    assert torchxai.explain is explain and torchxai.Explanation is Explanation


# ---------------------------------------------------------- captum adapter


def test_captum_feature_ablation_matches_a_manual_ablation() -> None:
    from captum.attr import FeatureAblation

    from torchxai.methods.captum_adapter import register_captum

    register_captum("ablation-test", FeatureAblation, overwrite=True)
    model, x = _tabular()
    exp = explain(model, x, "ablation-test", target=1)
    with torch.no_grad():
        full = model(x)[:, 1]
        for column in range(6):
            ablated = x.clone()
            ablated[:, column] = 0.0
            torch.testing.assert_close(
                exp.scores[:, column], full - model(ablated)[:, 1]
            )
    assert bool(exp.fit_rmse.isnan().all()) and exp.method == "ablation-test"

    tokens = torch.randint(1, 257, (1, 30))
    seq = explain(
        ToyLabeller(),
        tokens,
        "ablation-test",
        target=(12, 1),
        output="logits",
        window=6,
    )
    inside = seq.feature_map[0] >= 0
    assert inside.nonzero().flatten().tolist() == list(range(9, 15))
    assert bool((seq.scores[0][~inside] == 0).all())
    with torch.no_grad():
        base = ToyLabeller()(tokens).softmax(-1)[0, 12, 1]
        for position in range(9, 15):
            ablated = tokens.clone()
            ablated[0, position] = 0
            drop = base - ToyLabeller()(ablated).softmax(-1)[0, 12, 1]
            torch.testing.assert_close(seq.scores[0, position], drop)


def test_captum_integrated_gradients_is_complete() -> None:
    from captum.attr import IntegratedGradients

    from torchxai.methods.captum_adapter import register_captum

    register_captum("ig-test", IntegratedGradients, overwrite=True, n_steps=200)
    model, x = _tabular()
    exp = explain(model, x, "ig-test", target=1)
    with torch.no_grad():
        gap = model(x)[:, 1] - model(torch.zeros_like(x))[:, 1]
    torch.testing.assert_close(exp.scores.sum(dim=1), gap, atol=1e-3, rtol=1e-3)
    with pytest.raises(InvalidInputError, match="unknown option n_sample"):
        explain(model, x, "ig-test", n_sample=3)


def test_auto_fit_chunks_follow_the_memory_budget() -> None:
    from types import SimpleNamespace

    from torchxai.methods._task import FIT_ELEMENTS, MAX_AUTO_CHUNK, fit_chunk_size

    def task(fit_batch_size: int | None, n_samples: int, p: int) -> Any:
        return SimpleNamespace(
            fit_batch_size=fit_batch_size,
            n_samples=n_samples,
            n_features=torch.tensor([p - 3, p]),
        )

    # LEMNA, K = 6, on the PDF MLP: 500 samples of 135 features per problem
    assert fit_chunk_size(task(None, 500, 135), 6) == FIT_ELEMENTS // (6 * 500 * 135)
    assert fit_chunk_size(task(None, 500, 135), 6) == 165
    assert fit_chunk_size(task(None, 500, 135)) == 994  # LIME: one problem each
    assert fit_chunk_size(task(None, 10, 2)) == MAX_AUTO_CHUNK
    assert fit_chunk_size(task(None, 100_000, 30_000), 6) == 1
    assert fit_chunk_size(task(7, 500, 135), 6) == 7  # the user's choice wins


# ------------------------------------------------- features at the baseline


class CountingModel(nn.Module):
    """Wraps a model and keeps every input it is called with."""

    def __init__(self, inner: nn.Module) -> None:
        super().__init__()
        self.inner = inner
        self.seen: list[Tensor] = []

    def forward(self, x: Tensor) -> Tensor:
        self.seen.append(x.detach().clone())
        return self.inner(x)


def test_features_at_the_baseline_score_zero_and_keep_their_columns() -> None:
    model = SparseLogistic(8, {0: 2.0, 2: 1.5, 5: -1.0, 6: 1.0}, bias=-0.5).eval()
    x = torch.tensor([[1.0, 0, 1, 1, 0, 1, 0, 1], [0.0, 1, 1, 0, 1, 1, 1, 0]])
    options = {"n_components": 1, "n_samples": 200, "seed": 1}
    skipped = explain(model, x, "lemna", **options)
    assert bool((skipped.scores[x == 0] == 0).all())
    assert bool((skipped.scores[x != 0] != 0).any())
    # the surrogate stays on the table's columns: column j is feature j
    assert skipped.coefficients is not None
    assert skipped.coefficients.shape == (2, 1, 8)
    assert bool((skipped.coefficients[:, 0][x == 0] == 0).all())
    torch.testing.assert_close(skipped.feature_scores, skipped.scores)
    # without the option the zeros are perturbed too, and get noise coefficients
    everything = explain(model, x, "lemna", skip_baseline_features=False, **options)
    assert bool((everything.scores[x == 0] != 0).any())
    # random and LIME follow the same rule
    for method in ("random", "lime"):
        exp = explain(model, x, method, n_samples=200)
        assert bool((exp.scores[x == 0] == 0).all()), method


def test_an_input_entirely_at_the_baseline_is_not_queried() -> None:
    model = CountingModel(SparseLogistic(6, {1: 3.0, 4: -2.0}, bias=0.5).eval())
    x = torch.tensor([[1.0, 1, 0, 1, 1, 0], [0.0, 0, 0, 0, 0, 0]])
    for method, options in (("lemna", FAST), ("lime", {"n_samples": 100})):
        model.seen.clear()
        exp = explain(model, x, method, target=1, **options)
        copies = torch.cat(model.seen)
        assert copies.shape[0] == 2 + options["n_samples"]  # x itself, then row 0
        assert bool((exp.scores[1] == 0).all()) and float(exp.fit_rmse[1]) == 0.0
        assert exp.intercepts is not None and exp.mixing_weights is not None
        with torch.no_grad():
            own = model.inner(x[1:])[0, 1]
        torch.testing.assert_close(exp.intercepts[1, 0], own.to(exp.intercepts.dtype))
        assert float(exp.mixing_weights[1, 0]) == 1.0
        assert exp.coefficients is not None
        # row 0 was fitted: some component uses features 1 and 4, the model's
        assert bool((exp.coefficients[0][:, [1, 4]] != 0).any())
        assert bool((exp.coefficients[1] == 0).all())
    # a batch of nothing but baseline inputs
    alone = explain(model, x[1:], "lime", target=1, n_samples=100)
    assert bool((alone.scores == 0).all()) and alone.coefficients is not None
    assert alone.coefficients.shape == (1, 1, 6)


def test_skip_baseline_features_must_be_a_flag() -> None:
    model, x = _tabular()
    with pytest.raises(InvalidInputError, match="skip_baseline_features"):
        explain(model, x, "lime", skip_baseline_features="yes")


def test_captum_perturbation_methods_skip_baseline_features() -> None:
    from captum.attr import KernelShap

    from torchxai.methods.captum_adapter import register_captum

    register_captum("shap-test", KernelShap, overwrite=True, n_samples=200)
    model, x = _tabular()
    x[0, 4] = 0.0  # column 4 moves the model, but sits at the baseline here
    x[0, 2] = 1.0
    skipped = explain(model, x, "shap-test", target=1)
    assert bool((skipped.scores[x == 0] == 0).all())
    assert bool((skipped.scores[x != 0] != 0).any())
    torch.manual_seed(0)
    everything = explain(model, x, "shap-test", target=1, skip_baseline_features=False)
    # KernelShap's linear fit gives the do-nothing columns noise of its own
    assert bool((everything.scores[x == 0] != 0).any())


# ------------------------------------------------------ LEMNA's fused term


def test_lemna_fuses_sequences_but_not_table_columns_by_default() -> None:
    model, x = _tabular()
    auto = explain(model, x, "lemna", seed=4, **FAST)
    plain = explain(model, x, "lemna", seed=4, lam2=0.0, **FAST)
    assert auto.options["lam2"] == 0.0
    assert torch.equal(auto.scores, plain.scores)
    fused = explain(model, x, "lemna", seed=4, lam2=0.5, **FAST)
    assert not torch.equal(auto.scores, fused.scores)

    tokens = torch.randint(1, 5, (2, 30), generator=torch.Generator().manual_seed(0))
    options = {"target": (12, 1), "output": "logits", "window": 10, "seed": 4, **FAST}
    auto = explain(ToyLabeller(), tokens, "lemna", **options)
    assert auto.options["lam2"] == 0.01
    same = explain(ToyLabeller(), tokens, "lemna", lam2=0.01, **options)
    assert torch.equal(auto.scores, same.scores)
    with pytest.raises(InvalidInputError, match="lam2 must be 'auto'"):
        explain(model, x, "lemna", lam2="fused")


def test_padded_chunks_and_their_columns() -> None:
    from torchxai.methods._task import _chunks, _fit_columns

    counts = torch.tensor([3, 0, 5, 3, 4])
    assert [c.tolist() for c in _chunks(counts, 10, pad=True)] == [[0, 3, 4, 2]]
    assert [c.tolist() for c in _chunks(counts, 2, pad=True)] == [[0, 3], [4, 2]]
    assert [c.tolist() for c in _chunks(counts, 10)] == [[0, 3], [4], [2]]
    assert _chunks(torch.zeros(3, dtype=torch.int64), 4, pad=True) == []
    switchable = torch.tensor([[True, False, True, True], [False, True, False, False]])
    # row 0: features 0, 2, 3 then one padding column (4 = p); row 1: feature 1
    assert _fit_columns(switchable, 4).tolist() == [[0, 2, 3, 4], [1, 4, 4, 4]]
