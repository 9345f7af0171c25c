"""torchxai.hooks: the monitor in a tiny training loop, its drift and fidelity numbers
against set arithmetic and a hand-written deduction test, and the Lightning glue."""

from __future__ import annotations

import json
import math
import sys
import types
from pathlib import Path

import pytest
import torch
from torch import nn

from torchxai import hooks
from torchxai.errors import InvalidInputError
from torchxai.explanation import Explanation
from torchxai.hooks import ExplanationMonitor, jaccard, lightning_callback

N_FEATURES = 8


def toy_task(n: int = 64) -> tuple[torch.Tensor, torch.Tensor]:
    generator = torch.Generator().manual_seed(0)
    x = (torch.rand(n, N_FEATURES, generator=generator) > 0.5).float()
    y = ((x[:, 1] + x[:, 5] - x[:, 2]) > 0.5).long()
    return x, y


def toy_model() -> nn.Module:
    torch.manual_seed(0)
    return nn.Sequential(
        nn.Linear(N_FEATURES, 16), nn.ReLU(), nn.Dropout(0.1), nn.Linear(16, 2)
    )


def train(model: nn.Module, monitor: ExplanationMonitor, steps: int) -> list[int]:
    """A plain training loop calling on_step; the steps that were checked."""
    x, y = toy_task()
    optimizer = torch.optim.SGD(model.parameters(), lr=0.5)
    checked = []
    model.train()
    for step in range(steps + 1):
        if step > 0:
            optimizer.zero_grad()
            nn.functional.cross_entropy(model(x), y).backward()
            optimizer.step()
        if monitor.on_step(model, step) is not None:
            checked.append(step)
    return checked


def top_sets(explanation: Explanation, k: int) -> list[set[int]]:
    return [set(row) for row in explanation.top_k(k).tolist()]


def hand_deduction_pcr(
    model: nn.Module, x: torch.Tensor, e: Explanation, k: int
) -> float:
    """PCR after zeroing each input's k highest-scored elements (valid without ties
    at the k-th score; the fidelity module breaks ties at random)."""
    kept = []
    with torch.no_grad():
        for row in range(x.shape[0]):
            scores = e.scores[row]
            order = torch.argsort(scores, descending=True, stable=True)
            changed = x[row].clone()
            changed[order[:k]] = 0.0
            kept.append(int(model(changed[None]).argmax(-1)) == int(e.target[row]))
    return sum(kept) / len(kept)


def test_monitor_checks_every_n_steps_and_measures_drift() -> None:
    probe = toy_task()[0][:6]
    model = toy_model()
    monitor = ExplanationMonitor(
        probe, every_n_steps=5, method="lime", k=3, n_samples=80
    )
    explanations: list[Explanation] = []
    original = monitor.check

    def keep(model: nn.Module, step: int) -> object:
        record = original(model, step)
        assert monitor.last_explanation is not None
        explanations.append(monitor.last_explanation)
        return record

    monitor.check = keep  # type: ignore[method-assign]
    assert train(model, monitor, 12) == [0, 5, 10]
    assert model.training  # the monitor restores the training mode
    records = monitor.history
    assert [r.step for r in records] == [0, 5, 10]
    assert math.isnan(records[0].jaccard)
    assert torch.isnan(records[0].jaccard_per_input).all()

    for before, after, record in zip(
        explanations[:-1], explanations[1:], records[1:], strict=True
    ):
        expected = [
            len(a & b) / len(a | b)
            for a, b in zip(top_sets(before, 3), top_sets(after, 3), strict=True)
        ]
        assert record.jaccard_per_input.tolist() == pytest.approx(expected)
        assert record.jaccard == pytest.approx(sum(expected) / len(expected))

    assert all(r.seconds > 0 for r in records)
    assert monitor.overhead_seconds == pytest.approx(sum(r.seconds for r in records))
    assert 0 < monitor.overhead_fraction <= 1
    assert all(0 <= r.pcr <= 1 and 0 <= r.pcr_reference <= 1 for r in records)
    assert all(r.fit_rmse >= 0 for r in records)


def test_fidelity_matches_a_hand_written_deduction_test() -> None:
    probe = toy_task()[0][:10]
    model = toy_model().eval()
    monitor = ExplanationMonitor(
        probe, every_n_steps=1, method="lime", k=2, n_samples=80
    )
    record = monitor.check(model, 0)
    e = monitor.last_explanation
    assert e is not None
    # the explained target is the predicted class, so the reference PCR is 1
    assert record.pcr_reference == 1.0
    sorted_scores = torch.sort(e.scores, dim=1, descending=True).values
    assert bool((sorted_scores[:, 1] > sorted_scores[:, 2]).all())  # no ties at k
    assert record.pcr == pytest.approx(hand_deduction_pcr(model, probe, e, 2))
    assert record.pcr_drop == pytest.approx(record.pcr_reference - record.pcr)


def test_an_unchanged_model_has_no_drift(tmp_path: Path) -> None:
    probe = toy_task()[0][:4]
    model = toy_model().eval()
    monitor = ExplanationMonitor(
        probe, every_n_steps=2, method="random", k=3, fidelity=False
    )
    for step in range(5):
        monitor.on_step(model, step)
    assert [r.step for r in monitor.history] == [0, 2, 4]
    assert [r.jaccard for r in monitor.history[1:]] == [1.0, 1.0]
    assert math.isnan(monitor.history[0].pcr_drop)
    assert monitor.on_step(model, 4) is None  # the same step is checked once

    monitor.save(tmp_path / "monitor.json")
    saved = json.loads((tmp_path / "monitor.json").read_text())
    assert [r["step"] for r in saved["history"]] == [0, 2, 4]
    assert saved["history"][0]["jaccard"] is None and saved["k"] == 3


def test_attach_counts_optimizer_steps() -> None:
    x, y = toy_task()
    model = toy_model()
    optimizer = torch.optim.SGD(model.parameters(), lr=0.1)
    monitor = ExplanationMonitor(x[:3], every_n_steps=2, method="random", k=2)
    detach = monitor.attach(model, optimizer)
    for _ in range(5):
        optimizer.zero_grad()
        nn.functional.cross_entropy(model(x), y).backward()
        optimizer.step()
    detach()
    optimizer.step()  # no longer counted
    assert [r.step for r in monitor.history] == [0, 2, 4]


def test_jaccard_of_masks() -> None:
    a = torch.tensor([[1, 1, 0, 0], [0, 0, 0, 0], [1, 0, 1, 0]], dtype=torch.bool)
    b = torch.tensor([[1, 0, 1, 0], [0, 0, 0, 0], [1, 0, 1, 0]], dtype=torch.bool)
    assert jaccard(a, b).tolist() == [1 / 3, 1.0, 1.0]
    with pytest.raises(InvalidInputError, match="differ"):
        jaccard(a, b[:, :3])


def test_bad_arguments() -> None:
    probe = torch.rand(3, 4)
    with pytest.raises(InvalidInputError, match="every_n_steps"):
        ExplanationMonitor(probe, every_n_steps=0)
    with pytest.raises(InvalidInputError, match="k must be at most"):
        ExplanationMonitor(probe, k=5)
    with pytest.raises(InvalidInputError, match="probe_inputs"):
        ExplanationMonitor([[0.0]])  # type: ignore[arg-type]
    with pytest.raises(InvalidInputError, match="empty"):
        ExplanationMonitor(probe[:0])
    monitor = ExplanationMonitor(probe, k=2)
    with pytest.raises(InvalidInputError, match="step"):
        monitor.on_step(nn.Linear(4, 2), -1)


# --- Lightning ---------------------------------------------------------------------


@pytest.fixture
def fresh_callback_class(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(hooks, "_CALLBACK_CLASS", None)


def test_missing_lightning_names_the_extra(
    monkeypatch: pytest.MonkeyPatch, fresh_callback_class: None
) -> None:
    for name in ("lightning", "lightning.pytorch", "pytorch_lightning"):
        monkeypatch.setitem(sys.modules, name, None)  # import raises ImportError
    monitor = ExplanationMonitor(torch.rand(2, 4), k=2, method="random")
    with pytest.raises(ImportError, match=r"pip install 'torchxai\[lightning\]'"):
        lightning_callback(monitor)
    with pytest.raises(ImportError, match="lightning"):
        hooks.ExplanationMonitorCallback  # noqa: B018


def test_lightning_callback_drives_the_monitor(
    monkeypatch: pytest.MonkeyPatch, fresh_callback_class: None
) -> None:
    class Callback:  # what the callback needs of lightning.pytorch.Callback
        pass

    package = types.ModuleType("lightning")
    module = types.ModuleType("lightning.pytorch")
    module.Callback = Callback  # type: ignore[attr-defined]
    package.pytorch = module  # type: ignore[attr-defined]
    monkeypatch.setitem(sys.modules, "lightning", package)
    monkeypatch.setitem(sys.modules, "lightning.pytorch", module)

    model = toy_model()
    monitor = ExplanationMonitor(torch.rand(2, N_FEATURES), 2, "random", k=2)
    callback = lightning_callback(monitor)
    assert isinstance(callback, Callback)
    assert isinstance(callback, hooks.ExplanationMonitorCallback)

    trainer = types.SimpleNamespace(global_step=0, is_global_zero=True)
    callback.on_train_start(trainer, model)
    for step in (1, 2, 2, 3, 4):  # step 2 twice: gradient accumulation
        trainer.global_step = step
        callback.on_train_batch_end(trainer, model, None, None, 0)
    assert [r.step for r in monitor.history] == [0, 2, 4]

    other_rank = types.SimpleNamespace(global_step=6, is_global_zero=False)
    callback.on_train_batch_end(other_rank, model, None, None, 0)
    assert len(monitor.history) == 3
    with pytest.raises(InvalidInputError, match="ExplanationMonitor"):
        lightning_callback("not a monitor")  # type: ignore[arg-type]
