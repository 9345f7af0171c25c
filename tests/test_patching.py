"""Tests of torchxai.patching: error counting, crafting, fine-tuning, the runs."""

from __future__ import annotations

import copy
from dataclasses import dataclass

import pytest
import torch
from torch import Tensor, nn

from torchxai.errors import InvalidInputError
from torchxai.patching import (
    ErrorSet,
    PatchOptions,
    RandomWindowExplainer,
    compare_patching,
    count_errors,
    craft_samples,
    find_errors,
    fine_tune,
    patch_model,
    predict_classes,
)

VOCAB = 12
LENGTH = 24
START_TOKEN = 5


class ToyTagger(nn.Module):
    """Embedding -> 1-D convolution (5 positions) -> per-position logits (N, L, 2)."""

    def __init__(self, seed: int = 0) -> None:
        super().__init__()
        torch.manual_seed(seed)
        self.embedding = nn.Embedding(VOCAB, 8)
        self.conv = nn.Conv1d(8, 16, kernel_size=5, padding=2)
        self.dense = nn.Linear(16, 2)

    def forward(self, tokens: Tensor) -> Tensor:
        hidden = self.conv(self.embedding(tokens).transpose(1, 2)).relu()
        return self.dense(hidden.transpose(1, 2))


class TriggerModel(nn.Module):
    """Predicts a start at t iff token[t - 3] == 7 (a fixed rule, no learning)."""

    def __init__(self) -> None:
        super().__init__()
        self.scale = nn.Parameter(torch.tensor(10.0))

    def forward(self, tokens: Tensor) -> Tensor:
        trigger = torch.zeros(tokens.shape, dtype=torch.float32)
        trigger[:, 3:] = (tokens[:, :-3] == 7).float()
        start = self.scale * (trigger - 0.5)
        return torch.stack([torch.zeros_like(start), start], dim=-1)


@dataclass
class Scores:
    scores: Tensor


def planted_windows(n: int, seed: int) -> tuple[Tensor, Tensor]:
    """Random tokens 1..VOCAB-1 with 4 padded positions; starts where token == 5."""
    generator = torch.Generator().manual_seed(seed)
    tokens = torch.randint(1, VOCAB, (n, LENGTH), generator=generator)
    tokens[:, -4:] = 0
    return tokens, (tokens == START_TOKEN).long()


# ---------------------------------------------------------------- counting


def test_counts_and_errors_match_numpy() -> None:
    generator = torch.Generator().manual_seed(3)
    tokens = torch.randint(0, 4, (6, 15), generator=generator)
    labels = torch.randint(0, 2, (6, 15), generator=generator)
    predicted = torch.randint(0, 2, (6, 15), generator=generator)

    t, y, p = tokens.numpy(), labels.numpy(), predicted.numpy()
    real = t != 0
    counts = count_errors(predicted, tokens, labels)
    assert counts.fp == int(((p == 1) & (y == 0) & real).sum())
    assert counts.fn == int(((p == 0) & (y == 1) & real).sum())
    assert counts.tp == int(((p == 1) & (y == 1) & real).sum())
    assert counts.n_positions == int(real.sum())
    with_padding = count_errors(predicted, tokens, labels, count_padding=True)
    assert with_padding.fp == int(((p == 1) & (y == 0)).sum())
    assert with_padding.n_positions == t.size

    errors = find_errors(predicted, tokens, labels)
    expected = [
        (i, j) for i in range(6) for j in range(15) if real[i, j] and p[i, j] != y[i, j]
    ]
    assert (
        list(zip(errors.window.tolist(), errors.position.tolist(), strict=True))
        == expected
    )
    assert errors.predicted.tolist() == [int(p[i, j]) for i, j in expected]
    assert errors.n_false_positives == counts.fp
    assert errors.n_false_negatives == counts.fn


def test_predict_classes_is_argmax_and_restores_mode() -> None:
    model = ToyTagger()
    model.train()
    tokens, _ = planted_windows(7, seed=1)
    predicted = predict_classes(model, tokens, batch_size=3)
    model.eval()
    with torch.no_grad():
        expected = model(tokens).argmax(-1)
    assert torch.equal(predicted, expected)
    model.train()
    predict_classes(model, tokens)
    assert model.training


def test_precision_recall_degenerate() -> None:
    tokens = torch.ones(2, 5, dtype=torch.int64)
    zeros = torch.zeros(2, 5, dtype=torch.int64)
    counts = count_errors(zeros, tokens, zeros)
    assert counts.tn == 10 and counts.fp == counts.fn == counts.tp == 0
    assert counts.to_dict()["precision"] is None
    assert counts.to_dict()["recall"] is None


# ---------------------------------------------------------------- crafting


def test_crafting_rules_on_a_hand_made_window() -> None:
    #                  0  1  2  3  4  5  6  7  8  9
    tokens = torch.tensor([[9, 8, 7, 6, 5, 4, 3, 2, 0, 0]])
    labels = torch.tensor([[0, 0, 1, 0, 1, 0, 0, 0, 0, 0]])
    # an FN at 4 (a true start missed) and an FP at 6 (predicted start, is not one)
    errors = ErrorSet(torch.tensor([0, 0]), torch.tensor([4, 6]), torch.tensor([0, 1]))
    scores = torch.tensor(
        [
            # FN: 4 itself ranks first, must be skipped; 8 is padding, skipped
            [0.0, 0.1, 0.5, 0.0, 0.9, 0.0, 0.0, 0.0, 0.8, 0.3],
            # FP: 6 itself ranks first and may be chosen; tie 0.4 at 5 and 7 -> nearest
            # to 6 both at distance 1 -> lower position 5 wins
            [0.0, 0.0, 0.0, 0.0, 0.0, 0.4, 0.7, 0.4, 0.0, 0.0],
        ]
    )
    crafted = craft_samples(tokens, labels, errors, scores)

    # FN: 4 (the start) excluded, 8 and 9 hold the neutral token already -> 2, 1
    assert crafted.changed.tolist() == [[2, 1], [6, 5]]
    assert crafted.error_index.tolist() == [0, 0, 0, 1, 1, 1, 1]
    assert crafted.tokens[0].tolist() == [9, 0, 0, 6, 5, 4, 3, 2, 0, 0]
    assert crafted.labels[0].tolist() == [0, 0, 0, 0, 1, 0, 0, 0, 0, 0]
    assert crafted.tokens[3].tolist() == [9, 8, 7, 6, 5, 0, 0, 2, 0, 0]
    assert crafted.labels[3].tolist() == [0, 0, 1, 0, 1, 0, 0, 0, 0, 0]
    for row in range(1, 3):
        assert torch.equal(crafted.tokens[row], crafted.tokens[0])
    for row in range(4, 7):
        assert torch.equal(crafted.tokens[row], crafted.tokens[3])
    # the explained windows themselves are untouched
    assert tokens[0].tolist() == [9, 8, 7, 6, 5, 4, 3, 2, 0, 0]
    # keep_fp_target: the FP's own position 6 is skipped -> 5 and 7 (tie, lower first)
    kept = craft_samples(tokens, labels, errors, scores, keep_fp_target=True)
    assert kept.changed.tolist() == [[2, 1], [5, 7]]
    assert kept.tokens[3].tolist() == [9, 8, 7, 6, 5, 0, 3, 0, 0, 0]


def _reference_craft(
    tokens, labels, window, position, predicted, scores, fmask, n, neutral, keep_fp
):
    """A plain-python re-implementation of the crafting rules."""
    rows_t, rows_y, changed = [], [], []
    for w, t, p, s, m in zip(window, position, predicted, scores, fmask, strict=True):
        order = sorted(range(len(s)), key=lambda i: (not m[i], -s[i], abs(i - t), i))
        picks = []
        for i in order:
            if (p == 0 or keep_fp) and i == t:
                continue
            if tokens[w][i] == neutral:
                continue
            picks.append(i)
            if len(picks) == n:
                break
        x, y = list(tokens[w]), list(labels[w])
        for i in picks:
            x[i], y[i] = neutral, 0
        copies = 3 if p == 0 else 4
        rows_t += [x] * copies
        rows_y += [y] * copies
        changed.append(picks + [-1] * (n - len(picks)))
    return rows_t, rows_y, changed


@pytest.mark.parametrize(("neutral", "keep_fp"), [(0, False), (1, False), (0, True)])
def test_crafting_matches_reference_on_random_errors(
    neutral: int, keep_fp: bool
) -> None:
    generator = torch.Generator().manual_seed(11)
    tokens = torch.randint(0, 4, (5, 12), generator=generator)
    labels = torch.randint(0, 2, (5, 12), generator=generator)
    window = torch.randint(0, 5, (20,), generator=generator)
    position = torch.randint(0, 12, (20,), generator=generator)
    predicted = 1 - labels[window, position]
    # coarse scores so that ties happen; a feature mask on a random band
    scores = torch.randint(-2, 3, (20, 12), generator=generator).double()
    fmask = torch.rand(20, 12, generator=generator) < 0.7
    errors = ErrorSet(window, position, predicted)
    crafted = craft_samples(
        tokens,
        labels,
        errors,
        scores,
        feature_mask=fmask,
        n_features=3,
        neutral_token=neutral,
        keep_fp_target=keep_fp,
    )
    ref_t, ref_y, ref_changed = _reference_craft(
        tokens.tolist(),
        labels.tolist(),
        window.tolist(),
        position.tolist(),
        predicted.tolist(),
        scores.tolist(),
        fmask.tolist(),
        3,
        neutral,
        keep_fp,
    )
    assert crafted.changed.tolist() == ref_changed
    assert crafted.tokens.tolist() == ref_t
    assert crafted.labels.tolist() == ref_y
    # false negatives keep their start byte and start label
    fn_rows = (predicted == 0).nonzero().flatten()
    assert bool((crafted.changed[fn_rows] != position[fn_rows, None]).all())


def test_crafting_without_errors_and_bad_scores() -> None:
    tokens, labels = planted_windows(3, seed=0)
    none = ErrorSet(*(torch.zeros(0, dtype=torch.int64),) * 3)
    crafted = craft_samples(tokens, labels, none, torch.zeros(0, LENGTH))
    assert len(crafted) == 0 and crafted.tokens.shape == (0, LENGTH)

    one = ErrorSet(torch.tensor([0]), torch.tensor([2]), torch.tensor([1]))
    with pytest.raises(InvalidInputError, match="scores must be a tensor of shape"):
        craft_samples(tokens, labels, one, torch.zeros(1, LENGTH + 1))
    with pytest.raises(InvalidInputError, match="NaN"):
        craft_samples(tokens, labels, one, torch.full((1, LENGTH), float("nan")))
    with pytest.raises(InvalidInputError, match="fn_copies"):
        craft_samples(tokens, labels, one, torch.zeros(1, LENGTH), fn_copies=-1)


# ---------------------------------------------------------------- explainers


def test_random_explainer_uses_lemna_window_and_is_batch_independent() -> None:
    from torchxai.samplers import sequence_feature_map

    tokens, _ = planted_windows(6, seed=2)
    targets = torch.tensor([[0, 1], [5, 0], [12, 1], [23, 0], [7, 1], [9, 0]])
    explainer = RandomWindowExplainer(seed=4, window=6)
    whole = explainer(None, tokens, targets)  # type: ignore[arg-type]
    inside = sequence_feature_map(tokens, targets[:, 0], 6) >= 0
    assert bool((whole.scores[~inside] == 0).all())
    assert bool((whole.scores[inside] > 0).all())
    assert int(inside.sum(1).min()) == 6
    parts = [explainer(None, tokens[i : i + 2], targets[i : i + 2]) for i in (0, 2, 4)]  # type: ignore[arg-type]
    assert torch.equal(torch.cat([p.scores for p in parts]), whole.scores)
    other = RandomWindowExplainer(seed=5, window=6)(None, tokens, targets)  # type: ignore[arg-type]
    assert not torch.equal(other.scores, whole.scores)


# ---------------------------------------------------------------- fine-tuning


def test_fine_tune_is_seeded_and_leaves_global_rng_alone() -> None:
    tokens, labels = planted_windows(40, seed=0)
    models = [ToyTagger(), ToyTagger()]
    torch.manual_seed(123)
    state = torch.get_rng_state()
    losses = [
        fine_tune(m, tokens, labels, epochs=3, batch_size=8, seed=7) for m in models
    ]
    assert torch.equal(torch.get_rng_state(), state)
    assert losses[0] == losses[1]
    assert losses[0][-1] < losses[0][0]
    for a, b in zip(models[0].parameters(), models[1].parameters(), strict=True):
        assert torch.equal(a, b)
    assert not models[0].training


def test_fine_tune_bad_options() -> None:
    tokens, labels = planted_windows(4, seed=0)
    with pytest.raises(InvalidInputError, match="lr must be a positive number"):
        fine_tune(ToyTagger(), tokens, labels, lr=0.0)
    with pytest.raises(InvalidInputError, match="epochs"):
        fine_tune(ToyTagger(), tokens, labels, epochs=-1)
    frozen = ToyTagger().requires_grad_(False)
    with pytest.raises(InvalidInputError, match="requires_grad"):
        fine_tune(frozen, tokens, labels)


# ---------------------------------------------------------------- whole runs


def _snapshot(model: nn.Module) -> dict[str, Tensor]:
    return {k: v.clone() for k, v in model.state_dict().items()}


def test_patching_reduces_errors_and_keeps_the_input_model() -> None:
    model = ToyTagger(seed=1)
    train, test = planted_windows(120, seed=10), planted_windows(30, seed=20)
    before_state = _snapshot(model)
    options = PatchOptions(epochs=5, batch_size=32, max_errors=80, seed=0)
    patched, report = patch_model(
        model, train, test, RandomWindowExplainer(seed=0), options=options
    )
    for key, value in model.state_dict().items():
        assert torch.equal(value, before_state[key]), key
    assert patched is not model and not patched.training

    found = report.errors_found["fp"] + report.errors_found["fn"]
    assert found > 20  # the untrained model errs a lot
    assert report.after.fp + report.after.fn < (report.before.fp + report.before.fn) / 2
    assert report.capped and sum(report.errors_explained.values()) == 80
    assert report.crafted == {
        "fp": 4 * report.errors_explained["fp"],
        "fn": 3 * report.errors_explained["fn"],
    }
    assert report.losses[-1] < report.losses[0]

    # the crafted errors: the patched model gets the error positions right
    errors = find_errors(predict_classes(model, test[0]), *test)
    right_before = predict_classes(model, test[0])[errors.window, errors.position]
    right_after = predict_classes(patched, test[0])[errors.window, errors.position]
    truth = test[1][errors.window, errors.position]
    assert int((right_before == truth).sum()) == 0
    assert int((right_after == truth).sum()) > len(errors) // 2


def test_compare_same_errors_same_number_of_samples_and_determinism() -> None:
    train, test = planted_windows(60, seed=1), planted_windows(20, seed=2)
    oracle_calls: list[Tensor] = []

    def oracle(model: nn.Module, windows: Tensor, targets: Tensor) -> Scores:
        oracle_calls.append(targets)
        scores = torch.zeros(windows.shape, dtype=torch.float64)
        scores[torch.arange(len(targets)), (targets[:, 0] - 1).clamp(min=0)] = 1.0
        return Scores(scores)

    options = PatchOptions(epochs=1, batch_size=20, max_errors=9, seed=3)
    reference = ToyTagger(seed=9)
    runs = [
        compare_patching(
            ToyTagger(seed=5),
            train,
            test,
            oracle,
            references={"other": reference},
            options=options,
        )
        for _ in range(2)
    ]
    (patched, comparison), (patched_again, comparison_again) = runs
    assert comparison.patched.errors_explained == comparison.control.errors_explained
    assert sum(comparison.patched.errors_explained.values()) == 9
    assert comparison.patched.capped and comparison.control.capped
    assert comparison.patched.crafted == comparison.control.crafted
    # the oracle scores one position; the next pick is the nearest tie: the FP itself
    n_fp = comparison.patched.errors_explained["fp"]
    assert n_fp > 0 and comparison.patched.fp_targets_overwritten == n_fp
    assert comparison.control.explainer == "random"
    first, second = comparison.to_dict(), comparison_again.to_dict()
    for run in ("patched", "control"):  # wall times differ, nothing else may
        first[run].pop("seconds"), second[run].pop("seconds")
    assert first == second
    for a, b in zip(patched.parameters(), patched_again.parameters(), strict=True):
        assert torch.equal(a, b)
    assert torch.equal(oracle_calls[0], oracle_calls[1])
    ref_counts = count_errors(predict_classes(reference, test[0]), *test)
    assert comparison.references["other"] == ref_counts
    assert "patched (random)" in comparison.format_table()

    other_seed = compare_patching(
        ToyTagger(seed=5),
        train,
        test,
        oracle,
        options=PatchOptions(epochs=1, seed=4, max_errors=9),
    )[0]
    assert any(
        not torch.equal(a, b)
        for a, b in zip(patched.parameters(), other_seed.parameters(), strict=True)
    )


def test_perfect_model_has_nothing_to_patch_and_holdout_is_counted() -> None:
    model = TriggerModel()
    tokens = torch.randint(1, 7, (10, LENGTH))  # no 7: never a start
    labels = torch.zeros_like(tokens)
    options = PatchOptions(epochs=0)
    patched, report = patch_model(
        model,
        (tokens, labels),
        (tokens, labels),
        RandomWindowExplainer(),
        options=options,
        holdout=(tokens[:3], labels[:3]),
    )
    assert report.errors_found == {"fp": 0, "fn": 0}
    assert report.crafted == {"fp": 0, "fn": 0}
    assert report.after == report.before and report.before.fp == 0
    assert report.holdout_before is not None and report.holdout_before.tn == 3 * LENGTH
    assert torch.equal(patched.scale, model.scale)


@pytest.mark.filterwarnings("ignore::torchxai.errors.ConvergenceWarning")
def test_lemna_finds_the_trigger_of_a_false_positive() -> None:
    pytest.importorskip("torchxai.explain")
    from torchxai.patching import LemnaExplainer

    model = TriggerModel()
    tokens = torch.randint(1, 7, (2, LENGTH))
    tokens[0, 5], tokens[1, 12] = 7, 7  # triggers -> FPs at 8 and 15
    labels = torch.zeros_like(tokens)
    errors = find_errors(predict_classes(model, tokens), tokens, labels)
    assert errors.position.tolist() == [8, 15]
    model.eval()
    lemna = LemnaExplainer(seed=0, n_samples=200, n_components=2, em_iter=10)
    explanation = lemna(model, tokens, errors.targets())
    crafted = craft_samples(
        tokens,
        labels,
        errors,
        explanation.scores,
        feature_mask=explanation.feature_map >= 0,
    )
    assert crafted.changed[:, 0].tolist() == [5, 12]


# ---------------------------------------------------------------- bad input


def test_bad_inputs_name_the_argument() -> None:
    model = ToyTagger()
    train, test = planted_windows(4, seed=0), planted_windows(4, seed=1)
    with pytest.raises(InvalidInputError, match="model must be a torch.nn.Module"):
        patch_model(lambda x: x, train, test)  # type: ignore[arg-type]
    with pytest.raises(InvalidInputError, match="train.tokens must hold integers"):
        patch_model(model, (train[0].float(), train[1]), test)
    with pytest.raises(InvalidInputError, match="test.labels must hold only 0"):
        patch_model(model, train, (test[0], test[1] * 2))
    with pytest.raises(InvalidInputError, match="test must be a SequenceDataset"):
        patch_model(model, train, test[0])  # type: ignore[arg-type]
    with pytest.raises(InvalidInputError, match="shape \\(N, L\\)"):
        patch_model(model, train, (test[0], test[1][:, :5]))
    with pytest.raises(InvalidInputError, match="one length"):
        patch_model(model, train, (test[0][:, :10], test[1][:, :10]))
    with pytest.raises(InvalidInputError, match="max_errors"):
        PatchOptions(max_errors=-1)
    with pytest.raises(InvalidInputError, match="n_features"):
        PatchOptions(n_features=1.5)  # type: ignore[arg-type]
    with pytest.raises(InvalidInputError, match="options must be a PatchOptions"):
        patch_model(model, train, test, options={"epochs": 1})  # type: ignore[arg-type]

    class Wrong(nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.w = nn.Parameter(torch.zeros(()))

        def forward(self, tokens: Tensor) -> Tensor:
            return torch.zeros(tokens.shape[0], tokens.shape[1], 3)

    with pytest.raises(InvalidInputError, match="logits of shape"):
        patch_model(Wrong(), train, test)

    def broken(m: nn.Module, windows: Tensor, targets: Tensor) -> Scores:
        return Scores(torch.zeros(len(windows), 3))

    untrained = copy.deepcopy(model)
    with pytest.raises(InvalidInputError, match="explainer 'broken' must return"):
        patch_model(untrained, train, test, broken)


def test_keep_fp_target_never_blanks_the_false_positive() -> None:
    train, test = planted_windows(10, seed=1), planted_windows(10, seed=2)

    def oracle(model: nn.Module, windows: Tensor, targets: Tensor) -> Scores:
        scores = torch.zeros(windows.shape, dtype=torch.float64)
        scores[torch.arange(len(targets)), targets[:, 0]] = 1.0  # the error itself
        return Scores(scores)

    reports = [
        patch_model(
            ToyTagger(seed=5),
            train,
            test,
            oracle,
            options=PatchOptions(epochs=0, keep_fp_target=keep),
        )[1]
        for keep in (False, True)
    ]
    n_fp = reports[0].errors_explained["fp"]
    assert n_fp > 0
    assert reports[0].fp_targets_overwritten == n_fp
    assert reports[1].fp_targets_overwritten == 0
