"""Fine-tune a sequence labeller on labelled windows (Adam, cross-entropy)."""

from __future__ import annotations

import logging
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from torchxai.errors import FitError, InvalidInputError
from torchxai.patching._checks import check_int, check_logits, model_device

__all__ = ["fine_tune"]

logger = logging.getLogger(__name__)


@contextmanager
def _seeded(seed: int, device: torch.device) -> Iterator[None]:
    """Seed the global generators of ``device`` (dropout) and restore them after."""
    devices: list[int] = []
    if device.type == "cuda":
        devices = [
            device.index if device.index is not None else torch.cuda.current_device()
        ]
    with torch.random.fork_rng(devices=devices, device_type=device.type):
        torch.manual_seed(seed)
        yield


def fine_tune(
    model: nn.Module,
    tokens: Tensor,
    labels: Tensor,
    *,
    epochs: int = 10,
    lr: float = 1e-3,
    batch_size: int = 100,
    seed: int = 0,
    progress: bool = False,
) -> list[float]:
    """Train ``model`` in place on labelled windows; leave it in ``eval`` mode.

    Minimizes the mean cross-entropy over every position of every window (as the
    seed's Keras ``categorical_crossentropy``), with Adam, on shuffled mini-batches,
    on the model's device, in ``train`` mode (dropout, if the model has any, is
    active). The shuffling comes from a ``torch.Generator`` seeded with ``seed``; the
    global generators (dropout) are seeded with ``seed`` inside a forked RNG state,
    so the caller's random state is left untouched.

    Args:
        model: tokens (n, L) -> logits (n, L, 2); the parameters with
            ``requires_grad`` are trained.
        tokens: int64 (N, L) windows (any device; batches move to the model's).
        labels: int64 (N, L) labels in {0, 1}.
        epochs: passes over the data.
        lr: Adam's learning rate (Keras' default 1e-3).
        batch_size: windows per step (seed: 100).
        seed: seed of the shuffling and of dropout.
        progress: show a tqdm bar over the steps.

    Returns:
        The mean training loss of each epoch.

    Raises:
        InvalidInputError: a bad option, or no trainable parameter.
        FitError: the loss became NaN or infinite.
    """
    check_int(epochs, "epochs", 0)
    check_int(batch_size, "batch_size", 1)
    check_int(seed, "seed", 0)
    if isinstance(lr, bool) or not isinstance(lr, int | float) or not lr > 0:
        raise InvalidInputError(f"lr must be a positive number; got {lr!r}")
    parameters = [p for p in model.parameters() if p.requires_grad]
    if not parameters:
        raise InvalidInputError(
            f"{type(model).__name__} has no parameter with requires_grad=True to train"
        )

    device = model_device(model)
    optimizer = torch.optim.Adam(parameters, lr=float(lr))
    generator = torch.Generator().manual_seed(seed)
    n = tokens.shape[0]
    steps_per_epoch = -(-n // batch_size)
    bar: Any = None
    if progress:
        from tqdm.auto import tqdm

        bar = tqdm(total=epochs * steps_per_epoch, desc="fine-tuning", unit="batch")

    losses: list[float] = []
    model.train()
    try:
        with _seeded(seed, device):
            for epoch in range(epochs):
                order = torch.randperm(n, generator=generator)
                total = 0.0
                for start in range(0, n, batch_size):
                    index = order[start : start + batch_size]
                    loss = _step(model, optimizer, tokens[index], labels[index], device)
                    total += loss * index.numel()
                    if bar is not None:
                        bar.update(1)
                        bar.set_postfix(epoch=epoch + 1, loss=f"{loss:.4f}")
                losses.append(total / max(n, 1))
                logger.info(
                    "fine-tuning epoch %d/%d: loss %.5f", epoch + 1, epochs, losses[-1]
                )
    finally:
        model.eval()
        if bar is not None:
            bar.close()
    return losses


def _step(
    model: nn.Module,
    optimizer: torch.optim.Optimizer,
    tokens: Tensor,
    labels: Tensor,
    device: torch.device,
) -> float:
    """One Adam step on a batch; returns the batch's mean loss."""
    tokens, labels = tokens.to(device), labels.to(device)
    logits = check_logits(model(tokens), tokens.shape[0], tokens.shape[1], "model")
    loss = F.cross_entropy(logits.reshape(-1, 2), labels.reshape(-1))
    if not bool(torch.isfinite(loss)):
        raise FitError(
            "fine-tuning loss became NaN or infinite; lower lr or check the model"
        )
    optimizer.zero_grad(set_to_none=True)
    loss.backward()
    optimizer.step()
    return float(loss.detach())
