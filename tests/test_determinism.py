"""The same seed gives bit-identical explanations on the CPU, across batch sizes.

Four inputs explained together must give exactly the scores (and surrogates) of
the same inputs explained one at a time, and with another model-call batch size;
a repeated run must repeat exactly; another seed must change the draws.
"""

from __future__ import annotations

import pytest
import torch

import torchxai
from torchxai.explanation import Explanation
from torchxai.testing import PlantedSequenceModel, PlantedTabularModel

pytestmark = pytest.mark.filterwarnings("ignore::torchxai.errors.ConvergenceWarning")

METHODS = ("lemna", "lime", "random")


def _case(problem, method: str):  # type: ignore[no-untyped-def]
    return pytest.param(problem, method, id=f"{problem.__name__[1:]}-{method}")


SMALL = {
    "lemna": {"n_samples": 120, "n_components": 3, "em_iter": 8},
    "lime": {"n_samples": 120},
    "random": {},
}
_TENSORS = ("scores", "fit_rmse", "feature_scores", "coefficients", "intercepts")


def _assert_identical(whole: Explanation, parts: list[Explanation]) -> None:
    for name in _TENSORS:
        value = getattr(whole, name)
        if value is None:
            assert all(getattr(p, name) is None for p in parts)
            continue
        joined = torch.cat([getattr(p, name) for p in parts])
        # NaN (fit_rmse of "random") compares equal to NaN here
        assert torch.equal(value.isnan(), joined.isnan()), name
        assert torch.equal(value.nan_to_num(), joined.nan_to_num()), name


def _tabular() -> tuple[PlantedTabularModel, torch.Tensor, torch.Tensor, dict]:
    model = PlantedTabularModel(16, relevant=(1, 6, 7, 12))
    sample = model.sample(4, seed=0)
    return model, sample.inputs, sample.target, {"output": "logits"}


def _sequence() -> tuple[PlantedSequenceModel, torch.Tensor, torch.Tensor, dict]:
    model = PlantedSequenceModel()
    sample = model.sample(4, length=48, seed=1)
    return model, sample.inputs, sample.target, {"output": "logits", "window": 16}


@pytest.mark.parametrize(
    ("problem", "method"),
    [
        _case(_tabular, "lemna"),
        _case(_tabular, "lime"),
        _case(_tabular, "random"),
        _case(_sequence, "lemna"),
        _case(_sequence, "lime"),
        _case(_sequence, "random"),
    ],
)
def test_batch_of_four_equals_one_at_a_time(problem, method: str) -> None:
    model, x, target, common = problem()
    options = {**common, **SMALL[method], "seed": 3, "batch_invariant": True}
    whole = torchxai.explain(model, x, method, target=target, **options)
    parts = [
        torchxai.explain(
            model, x[i : i + 1], method, target=target[i : i + 1], **options
        )
        for i in range(4)
    ]
    _assert_identical(whole, parts)
    # and in the order reversed, two per fit: positions and fit batches change
    order = torch.tensor([3, 2, 1, 0])
    shuffled = torchxai.explain(
        model, x[order], method, target=target[order], fit_batch_size=2, **options
    )
    _assert_identical(shuffled, [parts[int(i)] for i in order])


@pytest.mark.parametrize("method", ("lemna", "lime"))
def test_without_the_mode_a_batch_agrees_to_rounding(method: str) -> None:
    model, x, target, common = _tabular()
    options = {**common, **SMALL[method], "seed": 3}
    whole = torchxai.explain(model, x, method, target=target, **options)
    for i in range(4):
        alone = torchxai.explain(
            model, x[i : i + 1], method, target=target[i : i + 1], **options
        )
        torch.testing.assert_close(
            whole.feature_scores[i : i + 1], alone.feature_scores, atol=1e-4, rtol=0
        )


@pytest.mark.parametrize("method", METHODS)
def test_model_call_batch_size_changes_nothing(method: str) -> None:
    model, x, target, common = _tabular()
    options = {**common, **SMALL[method], "seed": 5}
    a = torchxai.explain(model, x, method, target=target, **options)
    b = torchxai.explain(model, x, method, target=target, batch_size=7, **options)
    _assert_identical(a, [b])


@pytest.mark.parametrize("method", METHODS)
def test_same_seed_repeats_other_seed_differs(method: str) -> None:
    model, x, target, common = _tabular()
    options = {**common, **SMALL[method]}
    a = torchxai.explain(model, x, method, target=target, seed=11, **options)
    b = torchxai.explain(model, x, method, target=target, seed=11, **options)
    c = torchxai.explain(model, x, method, target=target, seed=12, **options)
    _assert_identical(a, [b])
    assert a.seed == 11 and c.seed == 12
    if method == "random":
        assert not torch.equal(a.scores, c.scores)
    else:  # a surrogate's coefficients move with the samples
        assert not torch.equal(a.coefficients, c.coefficients)


def test_real_pdf_mlp_batch_invariance() -> None:
    """The ported PDF MLP (matrix products whose blocking depends on the batch)."""
    from torchxai.datasets import binarize, load_contagio
    from torchxai.models import load_pdf_mlp

    model = load_pdf_mlp()
    data = load_contagio()
    x = binarize(data.features[data.labels == 1][:4])
    options = {"output": "logits", "seed": 0, "n_samples": 200}
    options["batch_invariant"] = True
    whole = torchxai.explain(model, x, "lime", **options)
    parts = [torchxai.explain(model, x[i : i + 1], "lime", **options) for i in range(4)]
    _assert_identical(whole, parts)


@pytest.mark.parametrize("dtype", (torch.float32, torch.float64))
@pytest.mark.parametrize("shape", ((1, 200, 135), (200, 135, 135), (6, 41, 501)))
def test_invariant_bmm_gives_a_problem_the_same_bits_at_any_position(
    dtype: torch.dtype, shape: tuple[int, int, int]
) -> None:
    """The batched product of the solvers, checked on the shapes LEMNA meets."""
    from torchxai.batched import batch_invariant, bmm, is_batch_invariant

    m, k, q = shape
    g = torch.Generator().manual_seed(0)
    A = torch.rand(8, m, k, generator=g, dtype=dtype)
    B = torch.rand(8, k, q, generator=g, dtype=dtype)
    with batch_invariant():
        assert is_batch_invariant()
        whole = bmm(A, B)
        for i in (0, 3, 5):
            assert torch.equal(bmm(A[i : i + 1], B[i : i + 1])[0], whole[i])
            shifted = bmm(A[[7, 1, i]], B[[7, 1, i]])
            assert torch.equal(shifted[2], whole[i])
    assert not is_batch_invariant()
    torch.testing.assert_close(whole, torch.bmm(A, B))
