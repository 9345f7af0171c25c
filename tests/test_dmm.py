"""DMM and DMM-MEN: elastic-net prior, recovery of planted mixtures, API, errors."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch
from scipy import integrate

from torchxai.bayes import (
    DMMMEN,
    DMMRegression,
    ElasticNetPrior,
    bootstrap_fidelity,
    class_logit,
    explain_global,
    high_variance_features,
)
from torchxai.bayes.global_explain import logit_of_class
from torchxai.errors import FitError, InvalidInputError


@pytest.fixture(autouse=True, scope="module")
def _one_thread():
    """SVI steps are tiny; one thread avoids oversubscription on a shared machine."""
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)


# ---------------------------------------------------------------- planted data

TRUE_COEF = np.array([[2.0, -1.0, 0.0, 3.0, 0.0], [-2.0, 1.0, 1.5, 0.0, -3.0]])
TRUE_INTERCEPT = np.array([1.0, -1.0])


def planted(n: int = 900, noise: float = 0.3, seed: int = 1):
    """Two linear regimes, 60% / 40%, Gaussian inputs; returns X, y, z (numpy)."""
    rng = np.random.default_rng(seed)
    X = rng.normal(size=(n, TRUE_COEF.shape[1]))
    z = (rng.random(n) < 0.4).astype(int)  # regime 0 is the larger one
    y = (X * TRUE_COEF[z]).sum(1) + TRUE_INTERCEPT[z] + noise * rng.normal(size=n)
    return X, y, z


def least_squares(X: np.ndarray, y: np.ndarray) -> np.ndarray:
    """Intercept-last ordinary least squares with numpy."""
    design = np.hstack([X, np.ones((X.shape[0], 1))])
    return np.linalg.lstsq(design, y, rcond=None)[0]


@pytest.fixture(scope="module")
def planted_fit():
    X, y, z = planted()
    model = DMMRegression(4, steps=1500, seed=0).fit(
        torch.tensor(X, dtype=torch.float32), torch.tensor(y, dtype=torch.float32)
    )
    return model, X, y, z


def _match(model, X, y, z):
    """Canonical component index of each true regime, by majority of assignments."""
    labels = model.responsibilities(
        torch.tensor(X, dtype=torch.float32), torch.tensor(y, dtype=torch.float32)
    ).argmax(1)
    return [int(torch.mode(labels[torch.tensor(z == r)]).values) for r in (0, 1)]


# ------------------------------------------------------------ elastic-net prior


@pytest.mark.parametrize(
    ("lam1", "lam2"), [(0.0, 0.5), (1.0, 1.0), (3.0, 0.2), (40.0, 0.5), (0.3, 25.0)]
)
def test_elastic_net_log_prob_matches_numerical_normalizer(lam1, lam2):
    unnormalized = lambda b: math.exp(-lam1 * abs(b) - lam2 * b * b)  # noqa: E731
    half, _ = integrate.quad(unnormalized, 0, math.inf, epsabs=0, epsrel=1e-12)
    log_z = math.log(2 * half)
    values = torch.tensor([-2.0, -0.3, 0.0, 0.05, 1.7], dtype=torch.float64)
    prior = ElasticNetPrior(torch.tensor(lam1, dtype=torch.float64), lam2)
    expected = -lam1 * values.abs() - lam2 * values**2 - log_z
    torch.testing.assert_close(prior.log_prob(values), expected, rtol=0, atol=1e-9)


def test_elastic_net_without_l1_is_a_normal():
    lam2 = 0.7
    prior = ElasticNetPrior(0.0, lam2)
    normal = torch.distributions.Normal(0.0, (1 / (2 * lam2)) ** 0.5)
    values = torch.linspace(-3, 3, 13)
    torch.testing.assert_close(prior.log_prob(values), normal.log_prob(values))


def test_elastic_net_samples_follow_the_density():
    lam1, lam2 = 2.0, 0.5
    draws = ElasticNetPrior(lam1, lam2).sample((40000,)).double()
    density = lambda b: math.exp(-lam1 * abs(b) - lam2 * b * b)  # noqa: E731
    z = 2 * integrate.quad(density, 0, math.inf)[0]
    abs_mean = 2 * integrate.quad(lambda b: b * density(b), 0, math.inf)[0] / z
    second = 2 * integrate.quad(lambda b: b * b * density(b), 0, math.inf)[0] / z
    assert abs(float(draws.abs().mean()) - abs_mean) < 0.01
    assert abs(float((draws**2).mean()) - second) < 0.02
    assert abs(float(draws.mean())) < 0.01


def test_elastic_net_rejects_nonpositive_l2():
    with pytest.raises(ValueError, match="lam2"):
        ElasticNetPrior(1.0, 0.0, validate_args=True)


# ------------------------------------------------------------------ DMM fits


def test_dmm_recovers_planted_coefficients(planted_fit):
    model, X, y, z = planted_fit
    components = _match(model, X, y, z)
    assert sorted(components) == [0, 1]
    for regime, j in enumerate(components):
        reference = least_squares(X[z == regime], y[z == regime])
        np.testing.assert_allclose(model.coef_[j].numpy(), reference[:-1], atol=0.05)
        assert abs(float(model.intercept_[j]) - reference[-1]) < 0.05
        residual = (
            y[z == regime]
            - np.hstack([X[z == regime], np.ones(((z == regime).sum(), 1))]) @ reference
        )
        assert abs(float(model.noise_variance_[j]) - residual.var()) < 0.02


def test_dmm_reports_used_components_and_canonical_order(planted_fit):
    model, X, y, z = planted_fit
    assert model.n_components_used_ == 2
    weights = model.weights_
    assert bool((weights[:-1] >= weights[1:]).all())
    assert abs(float(weights.sum()) - 1) < 1e-5
    # the heavier regime (0, 60%) is component 0 in canonical order
    assert _match(model, X, y, z) == [0, 1]
    assert abs(float(weights[0]) - (z == 0).mean()) < 0.05
    assert model.converged_


def test_dmm_assignments_and_predictions(planted_fit):
    model, X, y, z = planted_fit
    Xt, yt = torch.tensor(X, dtype=torch.float32), torch.tensor(y, dtype=torch.float32)
    labels = model.responsibilities(Xt, yt).argmax(1).numpy()
    assert (labels == z).mean() > 0.95
    rmse = float(((model.predict(Xt, yt) - yt) ** 2).mean().sqrt())
    assert rmse < 0.6
    mixture_mean = model.predict_components(Xt) @ model.weights_
    torch.testing.assert_close(model.predict(Xt), mixture_mean)


def test_dmm_credible_intervals_contain_the_truth(planted_fit):
    model, X, y, z = planted_fit
    lower, upper = model.credible_intervals(level=0.99)
    assert lower.shape == upper.shape == (4, 5)
    assert bool((lower <= model.coef_).all() and (model.coef_ <= upper).all())
    for regime, j in enumerate(_match(model, X, y, z)):
        truth = torch.tensor(TRUE_COEF[regime], dtype=torch.float32)
        inside = (lower[j] <= truth) & (truth <= upper[j])
        assert int(inside.sum()) >= 4
    narrow, wide = model.credible_intervals(0.5), model.credible_intervals(0.99)
    assert bool(((narrow[1] - narrow[0]) < (wide[1] - wide[0])).all())


def test_single_component_is_bayesian_least_squares():
    X, y, _ = planted(n=300)
    model = DMMRegression(1, steps=800, seed=3).fit(
        torch.tensor(X, dtype=torch.float64), torch.tensor(y, dtype=torch.float64)
    )
    reference = least_squares(X, y)
    assert model.n_components_used_ == 1
    # the posterior mean of a Gaussian regression with a weak prior is least
    # squares; SVI noise stays well inside the posterior sd
    lower, upper = model.credible_intervals(0.6827)
    sd = ((upper - lower) / 2)[0].numpy()
    assert np.all(np.abs(model.coef_[0].numpy() - reference[:-1]) < 0.5 * sd)
    residual = y - np.hstack([X, np.ones((300, 1))]) @ reference
    design = np.hstack([X, np.ones((300, 1))])
    exact_sd = np.sqrt(residual.var() * np.diag(np.linalg.inv(design.T @ design)))
    np.testing.assert_allclose(sd, exact_sd[:-1], rtol=0.25)
    assert model.coef_.dtype == torch.float64


def test_step_drives_the_same_fit_and_leaves_global_rng_alone():
    X, y, _ = planted(n=200)
    Xt, yt = torch.tensor(X, dtype=torch.float32), torch.tensor(y, dtype=torch.float32)
    manual = DMMRegression(2, seed=5, steps=25).setup(Xt, yt)
    torch.manual_seed(123)
    expected_draw = torch.rand(3)
    torch.manual_seed(123)
    losses = [manual.step() for _ in range(25)]
    assert torch.equal(torch.rand(3), expected_draw)
    looped = DMMRegression(2, seed=5, steps=25, tol=None).fit(Xt, yt)
    assert looped.loss_history_ == losses == manual.loss_history_
    assert manual.n_steps_ == 25
    torch.testing.assert_close(manual.coef_, looped.coef_)


def test_nan_loss_raises_fit_error_naming_the_step():
    X, y, _ = planted(n=100)
    model = DMMRegression(2, seed=0).setup(
        torch.tensor(X, dtype=torch.float32), torch.tensor(y, dtype=torch.float32)
    )
    model.step()
    model.step()
    with torch.no_grad():
        model._guide.locs["coef"][0, 0] = float("nan")
    with pytest.raises(FitError, match="step 3"):
        model.step()


def test_constant_response_gives_zero_coefficients():
    X = torch.randn(200, 3)
    y = torch.full((200,), 2.5)
    model = DMMRegression(2, steps=150, tol=None, seed=0).fit(X, y)
    assert model.n_components_used_ == 1
    used = model.counts_ > 0
    assert float(model.coef_[used].abs().max()) < 0.01
    torch.testing.assert_close(
        model.intercept_[used], torch.full((int(used.sum()),), 2.5), atol=0.01, rtol=0
    )
    torch.testing.assert_close(
        model.predict(X), torch.full((200,), 2.5), atol=0.05, rtol=0
    )


def test_bad_inputs_name_the_argument():
    X, y = torch.randn(20, 3), torch.randn(20)
    with pytest.raises(InvalidInputError, match="n_components"):
        DMMRegression(0)
    with pytest.raises(InvalidInputError, match="lr"):
        DMMRegression(2, lr=-1.0)
    with pytest.raises(InvalidInputError, match="X must have shape"):
        DMMRegression(2).fit(torch.randn(20), y)
    with pytest.raises(InvalidInputError, match=r"y must have shape \(20,\)"):
        DMMRegression(2).fit(X, torch.randn(19))
    bad = X.clone()
    bad[3, 1] = float("nan")
    with pytest.raises(InvalidInputError, match="X contains NaN"):
        DMMRegression(2).fit(bad, y)
    with pytest.raises(FitError, match="not fitted"):
        DMMRegression(2).coef_  # noqa: B018
    model = DMMRegression(2, steps=5, tol=None).fit(X, y)
    with pytest.raises(InvalidInputError, match="level"):
        model.credible_intervals(1.5)
    with pytest.raises(InvalidInputError, match=r"\(m, 3\)"):
        model.predict(torch.randn(4, 2))
    with pytest.raises(InvalidInputError, match="estimator"):
        DMMMEN(2, estimator="mode")


# ------------------------------------------------------------------ DMM-MEN


@pytest.fixture(scope="module")
def men_fit():
    rng = np.random.default_rng(7)
    n, p = 600, 8
    X = rng.normal(size=(n, p))
    coef = np.zeros((2, p))
    coef[0, :2] = [3.0, -2.0]
    coef[1, 2:4] = [-3.0, 2.0]
    z = (rng.random(n) < 0.4).astype(int)
    y = (X * coef[z]).sum(1) + np.array([0.5, -0.5])[z] + 0.3 * rng.normal(size=n)
    model = DMMMEN(
        3, 2, steps=300, tol=None, seed=0, estimator="map", lambdas=[(30, 1), (300, 5)]
    ).fit(torch.tensor(X), torch.tensor(y))
    return model, X, y, z, coef


def test_dmm_men_recovers_sparse_regimes(men_fit):
    model, X, y, z, coef = men_fit
    assert model.n_components_used_ == 2
    labels = model.responsibilities(torch.tensor(X), torch.tensor(y)).argmax(1).numpy()
    assert (labels == z).mean() > 0.95
    for regime in (0, 1):
        j = int(np.bincount(labels[z == regime]).argmax())
        assert j == regime  # the 60% regime comes first
        np.testing.assert_allclose(model.coef_[j].numpy(), coef[regime], atol=0.15)
    assert model.prior_assignment_.shape == (3,)
    probs = model.prior_assignment_probabilities()
    torch.testing.assert_close(probs.sum(1), torch.ones(3, dtype=probs.dtype))
    assert model.lambda1_.shape == model.lambda2_.shape == (2,)


def test_dmm_men_map_has_exact_zeros_matching_scikit_learn(men_fit):
    from sklearn.linear_model import ElasticNet

    model, X, y, _, _ = men_fit
    weights, lam1, lam2, labels = model.map_problem()
    order = model.order_
    coef_model_order = torch.empty_like(model.coef_)
    coef_model_order[order] = model.coef_
    zeros = 0
    for j in range(model.n_components):
        member = labels.numpy() == j
        if member.sum() == 0:
            continue
        a, b = float(lam1[j]), float(lam2[j])
        reference = ElasticNet(
            alpha=a + b, l1_ratio=a / (a + b), tol=1e-12, max_iter=200000
        ).fit(X[member], y[member])
        ours = coef_model_order[j].numpy()
        np.testing.assert_allclose(ours, reference.coef_, atol=1e-4)
        np.testing.assert_array_equal(ours == 0, reference.coef_ == 0)
        zeros += int((ours == 0).sum())
    assert zeros > 0


def test_dmm_men_map_agrees_with_the_solver_layer(men_fit):
    solvers = pytest.importorskip("torchxai.solvers")
    model, X, y, _, _ = men_fit
    weights, lam1, lam2, _ = model.map_problem()
    used = weights.sum(1) > 0
    count = int(used.sum())
    result = solvers.elastic_net(
        torch.tensor(X).expand(count, *X.shape),
        torch.tensor(y).expand(count, -1),
        lam1[used],
        lam2[used],
        weights=weights[used],
        tol=1e-9,
        max_iter=50000,
    )
    coef_model_order = torch.empty_like(model.coef_)
    coef_model_order[model.order_] = model.coef_
    torch.testing.assert_close(
        coef_model_order[used], result.coef.to(torch.float64), atol=1e-5, rtol=0
    )


# ------------------------------------------------- global explanation helpers


class TwoRegimeModel(torch.nn.Module):
    """Logits (0, f(x)): f linear with one of two coefficient vectors, by x[0]."""

    def __init__(self) -> None:
        super().__init__()
        self.w_on = torch.tensor([2.0, 1.0, -1.5, 0.0, 0.5, 0.0])
        self.w_off = torch.tensor([-2.0, 0.0, 1.0, 2.0, 0.0, -1.0])

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        on = x[:, 0] > 0.5
        logit = torch.where(on, x @ self.w_on - 1.0, x @ self.w_off + 0.5)
        return torch.stack([torch.zeros_like(logit), logit], dim=1)


def test_class_logit_matches_softmax_probabilities():
    logits = torch.randn(50, 4, dtype=torch.float64) * 3
    p = torch.softmax(logits, dim=1)[:, 2]
    torch.testing.assert_close(logit_of_class(logits, 2), torch.log(p / (1 - p)))
    model = TwoRegimeModel()
    x = (torch.rand(30, 6) < 0.5).float()
    torch.testing.assert_close(class_logit(model, x, 1, batch_size=7), model(x)[:, 1])


def test_high_variance_features_match_numpy():
    x = torch.rand(40, 5, 5) * torch.linspace(0.1, 2, 25).reshape(5, 5)
    expected = np.argsort(-x.reshape(40, -1).numpy().astype(np.float64).var(0, ddof=1))
    assert high_variance_features(x, 6).tolist() == expected[:6].tolist()


def test_explain_global_finds_the_two_regimes():
    model = TwoRegimeModel()
    x = (torch.rand(400, 6, generator=torch.Generator().manual_seed(2)) < 0.5).float()
    result = explain_global(model, x, 1, method="dmm", n_components=3, steps=800)
    on = x[:, 0] > 0.5
    assert result.estimator.n_components_used_ == 2
    j_on = int(torch.mode(result.labels[on]).values)
    j_off = int(torch.mode(result.labels[~on]).values)
    assert j_on != j_off
    coef = result.estimator.coef_
    # x[0] is constant within a regime, so its coefficient is not identifiable
    torch.testing.assert_close(coef[j_on, 1:], model.w_on[1:], atol=0.05, rtol=0)
    torch.testing.assert_close(coef[j_off, 1:], model.w_off[1:], atol=0.05, rtol=0)
    assert result.coefficient_maps().shape == (3, 6)
    assert result.ranking(j_on, by="signed")[0].item() in (0, 1)


def test_explain_dmm_through_the_registry():
    import torchxai.methods.dmm as adapter
    from torchxai.explain import explain

    adapter.register()
    model = TwoRegimeModel()
    x = (torch.rand(300, 6, generator=torch.Generator().manual_seed(4)) < 0.5).float()
    explanation = explain(
        model, x, method="dmm", target=1, output="logits", n_components=3, steps=800
    )
    assert explanation.scores.shape == (300, 6)
    assert explanation.coefficients.shape == (300, 3, 6)
    assert explanation.component.shape == explanation.fit_rmse.shape == (300,)
    # each input is explained by one of the two planted regimes (x[0] is constant
    # within a regime, so its coefficient is not identifiable and left out)
    near_on = (explanation.scores[:, 1:] - model.w_on[1:]).abs().amax(1) < 0.1
    near_off = (explanation.scores[:, 1:] - model.w_off[1:]).abs().amax(1) < 0.1
    assert bool((near_on | near_off).all())
    # the mixture sees (x, y), not the regime: where the two fitted components
    # predict the same logit either may explain an input, so most, not all, match
    on = x[:, 0] > 0.5
    assert float(near_on[on].double().mean()) > 0.75
    assert float(near_off[~on].double().mean()) > 0.75
    assert float(explanation.fit_rmse.max()) < 0.05
    assert float(explanation.fit_rmse.mean()) < 0.01
    with pytest.raises(InvalidInputError, match="n_components"):
        explain(model, x, method="dmm", target=1, output="logits", n_components=0)

    # a model answering probabilities: the response is their clipped logit
    def probabilities(inputs: torch.Tensor) -> torch.Tensor:
        return torch.softmax(model(inputs), dim=1)

    men = explain(
        probabilities, x[:60], method="dmm_men", target=1, n_components=2,
        n_priors=2, steps=30, tol=None, estimator="posterior",
    )  # fmt: skip
    assert men.method == "dmm_men" and men.coefficients.shape == (60, 2, 6)
    probability = probabilities(x[:60])[:, 1]
    torch.testing.assert_close(men.target_probability, probability)
    assert bool((men.fit_rmse >= 0).all() and (men.fit_rmse <= 1).all())


# ------------------------------------------------------- bootstrap fidelity


class PixelSumModel(torch.nn.Module):
    """Class 1 iff the pixels in a fixed set S sum above a threshold."""

    def __init__(self, key: torch.Tensor) -> None:
        super().__init__()
        self.key = key

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        score = x.reshape(x.shape[0], -1)[:, self.key].sum(1) - 1.5
        return torch.stack([-score, score], dim=1)


def test_bootstrap_fidelity_against_a_known_model():
    key = torch.tensor([3, 8, 14, 20, 27, 33])
    model = PixelSumModel(key)
    gen = torch.Generator().manual_seed(0)
    positives = torch.rand(60, 6, 6, generator=gen) * 0.5
    positives.view(60, -1)[:, key] += 0.5
    negatives = torch.rand(60, 6, 6, generator=gen) * 0.2
    ranking = torch.cat([key, torch.tensor([i for i in range(36) if i not in key])])
    results = bootstrap_fidelity(
        model,
        positives,
        ranking,
        1,
        negatives=negatives,
        n_features=4,
        n_rounds=3,
        fraction=1.0,
        noise_std=0.0,
        seed=1,
    )
    assert set(results) == {"nullification", "filling", "pathological"}
    # independent numpy re-computation of the selected arms (no randomness at
    # fraction 1 with zero noise and equal-valued hosts)
    flat = positives.reshape(60, -1).numpy().copy()
    flat[:, key[:4].numpy()] = 0.0
    null_acc = (flat[:, key.numpy()].sum(1) - 1.5 > 0).mean()
    np.testing.assert_allclose(results["nullification"].accuracy.numpy(), null_acc)
    noise = np.full((60, 36), 0.03)
    noise[:, key[:4].numpy()] = positives.reshape(60, -1).numpy()[:, key[:4].numpy()]
    path_acc = (noise[:, key.numpy()].sum(1) - 1.5 > 0).mean()
    np.testing.assert_allclose(results["pathological"].accuracy.numpy(), path_acc)
    assert results["nullification"].mean < results["nullification"].mean_random
    assert results["filling"].mean > results["filling"].mean_random
    assert results["pathological"].mean >= results["pathological"].mean_random
    per_input = ranking.expand(60, -1)
    again = bootstrap_fidelity(
        model,
        positives,
        per_input,
        1,
        n_features=4,
        n_rounds=3,
        fraction=1.0,
        noise_std=0.0,
        seed=1,
    )
    torch.testing.assert_close(
        again["nullification"].accuracy, results["nullification"].accuracy
    )
    with pytest.raises(InvalidInputError, match="negatives"):
        bootstrap_fidelity(
            model, positives, ranking, 1, tests=["filling"], n_features=4
        )
    with pytest.raises(InvalidInputError, match="n_features"):
        bootstrap_fidelity(model, positives, ranking[:3], 1, n_features=4)


class LinearBytesLabeller(torch.nn.Module):
    """Per-position logits (0, f): f = (x[t - 1] - x[t + 2]) / 128 - 0.5 on tokens."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        v = torch.nn.functional.pad(x.float(), (1, 2))  # zeros beyond the ends
        logit = (v[:, :-3] - v[:, 3:]) / 128 - 0.5
        return torch.stack([torch.zeros_like(logit), logit], dim=-1)


def test_dmm_on_token_sequences_finds_the_planted_offsets():
    """A global linear truth on bytes at two offsets: recovered in closed form."""
    import torchxai.methods.dmm as adapter
    from torchxai.explain import explain

    adapter.register()
    g = torch.Generator().manual_seed(5)
    x = torch.randint(0, 256, (200, 64), generator=g)
    target = torch.tensor([[30, 1]]).expand(200, 2)
    explanation = explain(
        LinearBytesLabeller(), x, method="dmm", target=target, output="logits",
        window=16, n_components=1, steps=1500,
    )  # fmt: skip
    # window of 16 around position 30 starts at 22: offsets -1, +2 are features 7, 10
    top = explanation.feature_scores.abs().argsort(1, descending=True)[:, :2]
    assert bool((top.sort(1).values == torch.tensor([7, 10])).all())
    # the features are bytes / 255, so the coefficients are +-255 / 128 (the
    # priors shrink them by a few per cent)
    coef = explanation.feature_scores[0]
    torch.testing.assert_close(coef[[7, 10]], torch.tensor([1.0, -1.0]) * 255 / 128,
                               atol=0.1, rtol=0)  # fmt: skip
    assert float(coef[[i for i in range(16) if i not in (7, 10)]].abs().max()) < 0.05
