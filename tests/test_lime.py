"""LIME: the kernel and the weighted lasso against scikit-learn, end to end."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from sklearn.linear_model import Lasso
from sklearn.metrics.pairwise import cosine_distances
from torch import Tensor, nn

from torchxai import explain
from torchxai.methods.lime import DEFAULTS, cosine_distance, fit_lime, kernel_weights
from torchxai.samplers import input_generators, perturb, sample_masks


class Bumpy(nn.Module):
    """Two classes; class 1's logit is a nonlinear function of columns 0, 3, 5."""

    def __init__(self) -> None:
        super().__init__()
        self.w = nn.Parameter(torch.tensor([2.0, 0.0, 0.0, -1.5, 0.0, 1.0, 0.0]))

    def forward(self, x: Tensor) -> Tensor:
        logit = x @ self.w + 0.8 * x[:, 0] * x[:, 5] - 0.5
        return torch.stack([-logit, logit], dim=-1)


def _sklearn_lasso(X: np.ndarray, y: np.ndarray, w: np.ndarray, alpha: float) -> Lasso:
    model = Lasso(alpha=alpha, fit_intercept=True, tol=1e-12, max_iter=200_000)
    return model.fit(X, y, sample_weight=w)


def test_kernel_matches_sklearn_cosine_distance() -> None:
    masks = sample_masks(300, 9, torch.Generator().manual_seed(0)).double()
    masks[7] = 0.0  # an all-zero mask: distance 1, as sklearn's
    reference = cosine_distances(masks.numpy(), np.ones((1, 9)))[:, 0]
    np.testing.assert_allclose(cosine_distance(masks).numpy(), reference, atol=1e-12)
    expected = np.sqrt(np.exp(-(reference**2) / 0.25**2))
    np.testing.assert_allclose(
        kernel_weights(masks, 0.25).numpy(), expected, rtol=1e-12
    )


def test_kernel_ignores_features_held_in_every_mask() -> None:
    moving = sample_masks(300, 6, torch.Generator().manual_seed(1)).double()
    held = torch.ones(300, 9, dtype=torch.float64)
    held[:, [0, 2, 3, 5, 7, 8]] = moving  # columns 1, 4 and 6 never switch off
    reference = cosine_distances(moving.numpy(), np.ones((1, 6)))[:, 0]
    np.testing.assert_allclose(cosine_distance(held).numpy(), reference, atol=1e-12)
    # nothing ever switched off: every sample is the input itself
    assert bool((cosine_distance(torch.ones(4, 3, 5)) == 0).all())


def _opts(**changes: object) -> dict[str, object]:
    return {**DEFAULTS, "solver_tol": 1e-10, "solver_max_iter": 100_000, **changes}


def test_weighted_lasso_matches_sklearn() -> None:
    rng = np.random.default_rng(0)
    X = torch.tensor(
        sample_masks(400, 7, torch.Generator().manual_seed(1)).double().numpy()
    )
    y = torch.sigmoid(
        X @ torch.tensor([2.0, 0, 0, -1.5, 0, 1, 0], dtype=torch.float64) - 0.5
    )
    y = y + 0.01 * torch.tensor(rng.normal(size=400))
    fit = fit_lime(X[None], y[None], _opts(lam1=0.002, penalty_scale="absolute"))
    w = kernel_weights(X, 0.25).numpy()
    reference = _sklearn_lasso(X.numpy(), y.numpy(), w, 0.002)
    np.testing.assert_allclose(fit.coef[0, 0].numpy(), reference.coef_, atol=2e-5)
    np.testing.assert_allclose(
        float(fit.intercept[0, 0]), reference.intercept_, atol=2e-5
    )
    prediction = reference.predict(X.numpy())
    np.testing.assert_allclose(fit.prediction[0].numpy(), prediction, atol=2e-5)


def test_relative_penalty_uses_the_weighted_lambda_max() -> None:
    X = sample_masks(300, 6, torch.Generator().manual_seed(2)).double()
    y = torch.sigmoid(X @ torch.tensor([1.0, -2, 0, 0, 3, 0], dtype=torch.float64))
    w = kernel_weights(X, 0.25).numpy()
    Xn, yn = X.numpy(), y.numpy()
    mean_x = (w[:, None] * Xn).sum(0) / w.sum()
    mean_y = (w * yn).sum() / w.sum()
    lam_max = (
        np.abs(((Xn - mean_x) * (w * (yn - mean_y))[:, None]).sum(0)).max() / w.sum()
    )
    fit = fit_lime(X[None], y[None], _opts(lam1=0.05))
    reference = _sklearn_lasso(Xn, yn, w, 0.05 * lam_max)
    np.testing.assert_allclose(fit.coef[0, 0].numpy(), reference.coef_, atol=2e-5)
    at_max = fit_lime(X[None], y[None], _opts(lam1=1.0))  # lambda_max: all zero
    assert bool((at_max.coef == 0).all())
    np.testing.assert_allclose(at_max.prediction[0].numpy(), mean_y, atol=1e-6)


@pytest.mark.parametrize("skip", [True, False])
def test_explain_lime_equals_an_independent_rebuild(skip: bool) -> None:
    """Masks, copies, kernel and lasso rebuilt by hand, with scikit-learn's lasso.

    With ``skip_baseline_features`` the columns already at the baseline 0 are not
    features: the masks switch off only the others, and the zeros score 0.
    """
    model = Bumpy().eval()
    # 5 and 4 features away from 0: with skip, one chunk padded to 5 columns
    x = torch.tensor([[1.0, 1, 0, 1, 1, 1, 0], [0.0, 1, 1, 0, 0, 1, 1]])
    exp = explain(
        model,
        x,
        "lime",
        output="logits",
        seed=5,
        n_samples=250,
        lam1=0.001,
        penalty_scale="absolute",
        solver_tol=1e-6,
        skip_baseline_features=skip,
    )
    assert exp.target.tolist() == [1, 1]
    generators = input_generators(5, x, exp.target)
    for row in range(2):
        columns = torch.nonzero(x[row] != 0).flatten() if skip else torch.arange(7)
        p = columns.numel()
        feature_of = torch.full((7,), -1, dtype=torch.int64)
        feature_of[columns] = torch.arange(p)
        masks = sample_masks(250, p, generators[row])
        copies = perturb(
            x[row].expand(250, 7), feature_of.expand(250, 7), masks, torch.tensor(0.0)
        )
        with torch.no_grad():
            y = model(copies).softmax(-1)[:, 1].double().numpy()
        Xn = masks.double().numpy()
        weights = np.sqrt(
            np.exp(-(cosine_distances(Xn, np.ones((1, p)))[:, 0] ** 2) / 0.0625)
        )
        reference = _sklearn_lasso(Xn, y, weights, 0.001)
        expected = np.zeros(7)
        expected[columns.numpy()] = reference.coef_
        np.testing.assert_allclose(exp.scores[row].numpy(), expected, atol=1e-4)
        rmse = np.sqrt(((reference.predict(Xn) - y) ** 2).mean())
        np.testing.assert_allclose(float(exp.fit_rmse[row]), rmse, rtol=1e-3, atol=1e-6)


@pytest.mark.parametrize("limit", [1, 3])
def test_num_features_limits_the_kept_features(limit: int) -> None:
    model = Bumpy().eval()
    x = torch.ones(3, 7)
    x[1, 2] = 0.0
    exp = explain(model, x, "lime", output="logits", num_features=limit, lam1=1e-4)
    kept = (exp.feature_scores != 0).sum(dim=1)
    assert bool((kept <= limit).all()) and bool((kept >= 1).all())
    free = explain(model, x, "lime", output="logits", lam1=1e-4)
    assert bool(((free.feature_scores != 0).sum(dim=1) > limit).all())


def test_lime_ranks_the_used_columns_first() -> None:
    exp = explain(Bumpy().eval(), torch.ones(2, 7), "lime", output="logits", target=1)
    top = exp.ranking()[:, :3]
    for row in range(2):
        assert top[row, 0].item() == 0  # the strongest positive column
        assert set(top[row, :2].tolist()) == {0, 5}
    assert exp.ranking()[0, -1].item() == 3  # the negative column comes last
