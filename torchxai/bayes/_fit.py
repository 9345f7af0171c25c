"""The SVI loop shared by DMM and DMM-MEN: one step, many steps, convergence, RNG.

The ELBO is :class:`pyro.infer.Trace_ELBO`; its differentiable loss is minimized with
Pyro's ``ClippedAdam`` algorithm applied directly to the guide's ``nn.Parameter``s
(the torch optimizer class behind ``pyro.optim.ClippedAdam``), so nothing goes through
Pyro's global parameter store.

Randomness: Pyro draws its reparameterized samples from torch's global generator. To
keep fits repeatable without re-seeding the caller's generators (which
``pyro.set_rng_seed`` would do), the fitter keeps a private copy of the global
generator state, seeded from ``seed``, and swaps it in only while a step runs.
Subsample indices come from a seeded ``torch.Generator``.

Point estimates read an exponential moving average of the guide's parameters over
the last steps (iterate averaging): near the optimum, Adam's steps on a noisy ELBO
make the parameters jitter by about ``lr``, and the average removes most of that
without more Monte-Carlo particles.

Pyro's argument validation is switched off inside a step (about 20% faster): the
data are checked once at setup, and a NaN anywhere surfaces as a NaN loss or
gradient, which stops the fit with a :class:`~torchxai.errors.FitError`.
"""

from __future__ import annotations

import contextlib
import copy
import logging
import math
import warnings
from collections.abc import Callable, Iterator

import pyro
import torch
from pyro.infer import Trace_ELBO
from pyro.optim.clipped_adam import ClippedAdam
from torch import Tensor, nn

from torchxai.errors import FitError

logger = logging.getLogger(__name__)


class PrivateRNG:
    """A private state of torch's global generator(s) for one device.

    Args:
        seed: the seed of the private state.
        device: the device the random draws happen on (its CUDA generator is kept
            too when it is a CUDA device).
    """

    def __init__(self, seed: int, device: torch.device) -> None:
        self._cuda: int | None = None
        if device.type == "cuda":
            index = device.index
            self._cuda = index if index is not None else torch.cuda.current_device()
        with self._fork():
            torch.manual_seed(seed)
            self._state = self._get()

    def _fork(self) -> contextlib.AbstractContextManager[None]:
        devices = [] if self._cuda is None else [self._cuda]
        return torch.random.fork_rng(devices=devices)

    def _get(self) -> tuple[Tensor, Tensor | None]:
        cuda = None if self._cuda is None else torch.cuda.get_rng_state(self._cuda)
        return torch.get_rng_state(), cuda

    @contextlib.contextmanager
    def active(self) -> Iterator[None]:
        """Run the body with the private state; the caller's state is restored after."""
        with self._fork():
            cpu, cuda = self._state
            torch.set_rng_state(cpu)
            if cuda is not None and self._cuda is not None:
                torch.cuda.set_rng_state(cuda, self._cuda)
            try:
                yield
            finally:
                self._state = self._get()


def window_change(history: list[float], window: int, n_obs: int) -> float:
    """Change of the mean loss between the last two windows, per observation.

    Args:
        history: losses, one per step.
        window: steps per window.
        n_obs: number of observations the loss sums over.

    Returns:
        ``|mean(last window) - mean(window before)| / n_obs``, or ``inf`` while fewer
        than ``2 * window`` losses exist.
    """
    if len(history) < 2 * window:
        return math.inf
    last = sum(history[-window:]) / window
    before = sum(history[-2 * window : -window]) / window
    return abs(last - before) / max(n_obs, 1)


class SVIFitter:
    """Minimize the negative ELBO of ``model`` under ``guide``, one step at a time.

    Args:
        model: the Pyro model, called as ``model(*args, subsample=idx)``.
        guide: the guide module, called with the same arguments.
        args: positional arguments of model and guide (the data).
        n_obs: number of observations (size of the data plate).
        lr: learning rate of ClippedAdam.
        seed: seed of the private generator state and of the subsample generator.
        device: device of the data and of the guide's parameters.
        batch_size: subsample size of the data plate; None uses all observations.
        clip_norm: gradient-norm clip of ClippedAdam.
        lr_decay: per-step multiplicative learning-rate decay.
        warmup: steps of linear learning-rate warm-up; Adam's first steps have size
            ``lr`` whatever the gradient, which on a noisy ELBO pushes a good start
            away from the optimum.
        name: the estimator's name, used in error messages.
        average_window: time constant, in steps, of the parameter average.
    """

    def __init__(
        self,
        model: Callable[..., object],
        guide: nn.Module,
        args: tuple[Tensor, ...],
        *,
        n_obs: int,
        lr: float,
        seed: int,
        device: torch.device,
        batch_size: int | None = None,
        clip_norm: float = 10.0,
        lr_decay: float = 1.0,
        name: str = "DMM",
        average_window: int = 50,
        warmup: int = 25,
    ) -> None:
        self.model = model
        self.guide = guide
        self.args = args
        self.n_obs = n_obs
        self.batch_size = batch_size
        self.name = name
        self.device = device
        self.elbo = Trace_ELBO()
        self.optimizer = ClippedAdam(
            list(guide.parameters()), lr=lr, clip_norm=clip_norm, lrd=1.0
        )
        self.base_lr = lr
        self.lr_decay = lr_decay
        self.warmup = warmup
        self.rng = PrivateRNG(seed, device)
        self.generator = torch.Generator().manual_seed(seed)
        self.loss_history: list[float] = []
        self.average_window = average_window
        self._average = {
            key: value.detach().clone() for key, value in guide.state_dict().items()
        }
        self._averaged_guide: tuple[int, nn.Module] | None = None

    @property
    def n_steps(self) -> int:
        """Number of SVI steps taken so far."""
        return len(self.loss_history)

    def _subsample(self) -> Tensor | None:
        if self.batch_size is None or self.batch_size >= self.n_obs:
            return None
        idx = torch.randperm(self.n_obs, generator=self.generator)[: self.batch_size]
        return idx.to(self.device)

    def step(self) -> float:
        """Take one SVI step and return its loss (the negative ELBO estimate).

        Raises:
            FitError: the loss or a gradient is NaN or infinite, or a distribution
                rejected a parameter; the message names the step.
        """
        step = self.n_steps + 1
        subsample = self._subsample()
        try:
            with (
                self.rng.active(),
                pyro.validation_enabled(False),
                warnings.catch_warnings(),
            ):
                # a NaN loss is reported below as a FitError, not a warning
                warnings.filterwarnings("ignore", "Encountered NaN", UserWarning)
                loss = self.elbo.differentiable_loss(
                    self.model, self.guide, *self.args, subsample=subsample
                )
        except ValueError as err:
            raise FitError(
                f"{self.name}: SVI step {step} failed inside the model or guide "
                f"({err}). Lower lr (now {self._lr()}) or check the inputs for "
                "extreme values."
            ) from err
        value = float(loss.detach())
        if not math.isfinite(value):
            raise FitError(
                f"{self.name}: SVI loss is {value} at step {step}. Lower lr "
                f"(now {self._lr()}), rescale the response, or check the inputs."
            )
        self.optimizer.zero_grad(set_to_none=True)
        loss.backward()
        self._check_gradients(step)
        for group in self.optimizer.param_groups:
            group["lr"] = self._scheduled_lr(step)
        self.optimizer.step()
        self.loss_history.append(value)
        self._update_average()
        return value

    @torch.no_grad()
    def _update_average(self) -> None:
        t = self.n_steps
        decay = min(1.0 - 1.0 / self.average_window, (1.0 + t) / (10.0 + t))
        for key, value in self.guide.state_dict().items():
            self._average[key].lerp_(value, 1.0 - decay)

    def averaged_guide(self) -> nn.Module:
        """A copy of the guide holding the averaged parameters (cached per step)."""
        if self._averaged_guide is None or self._averaged_guide[0] != self.n_steps:
            guide = copy.deepcopy(self.guide)
            guide.load_state_dict(self._average)
            self._averaged_guide = (self.n_steps, guide)
        return self._averaged_guide[1]

    def _scheduled_lr(self, step: int) -> float:
        ramp = min(1.0, step / self.warmup) if self.warmup > 0 else 1.0
        return self.base_lr * ramp * self.lr_decay ** (step - 1)

    def _lr(self) -> float:
        return float(self.optimizer.param_groups[0]["lr"])

    def _check_gradients(self, step: int) -> None:
        grads = [p.grad for p in self.guide.parameters() if p.grad is not None]
        if not grads:
            return
        total = torch.stack([g.abs().sum() for g in grads]).sum()
        if not bool(torch.isfinite(total)):
            raise FitError(
                f"{self.name}: a gradient is NaN or infinite at SVI step {step}. "
                f"Lower lr (now {self._lr()}) or rescale the response."
            )

    def run(
        self,
        steps: int,
        *,
        tol: float | None,
        window: int,
        progress: bool = False,
    ) -> bool:
        """Take up to ``steps`` steps; stop early once converged when ``tol`` is set.

        Args:
            steps: the most steps to take in this call.
            tol: convergence threshold on :func:`window_change`; None never stops early.
            window: steps per window of the convergence rule.
            progress: show a tqdm progress bar.

        Returns:
            Whether the loss had converged when the loop ended.
        """
        bar = None
        if progress:
            from tqdm.auto import tqdm

            bar = tqdm(total=steps, desc=f"{self.name} SVI", leave=False)
        try:
            for k in range(steps):
                loss = self.step()
                if bar is not None:
                    bar.update(1)
                    if k % 25 == 0:
                        bar.set_postfix(loss=f"{loss:.4g}")
                if tol is not None and self.converged(tol, window):
                    logger.debug("%s converged after %d steps", self.name, self.n_steps)
                    break
        finally:
            if bar is not None:
                bar.close()
        return self.converged(tol if tol is not None else 0.0, window)

    def converged(self, tol: float, window: int) -> bool:
        """Whether the windowed loss change per observation is below ``tol``."""
        return window_change(self.loss_history, window, self.n_obs) < tol
