"""Reproduce DMM on the PDF malware MLP (Guo et al., NeurIPS 2018) with torchxai.

Usage::

    python scripts/reproduce_dmm.py --out results/reproduce_dmm.json
    # a smoke run:
    python scripts/reproduce_dmm.py --n-inputs 300 --steps 150 --ks 2,5 \\
        --max-explained 20 --lime-samples 150 --out smoke.json

Steps, as in the seed (``dmm/code``: ``mlp_malware.py``, ``dmm.r``, ``Analysis.R``,
``xai_mlp_dmm.py``):

1. ``--n-inputs`` (4,999) binarized contagio rows, a seeded stratified subset; the
   response is the MLP's malware logit (:func:`torchxai.bayes.class_logit`).
2. A seeded 80/20 split: DMM (``--n-components`` = 3) is fitted by SVI on 80%
   (3,999 rows); on the held-out 20% the RMSE between the mixture's prediction and
   the model's malware probability is reported, both for the seed's predictive
   mean ``sum_j pi_j x . beta_j`` and for each input's most probable component
   given the model's output (the explanation's own surrogate).
3. Fidelity tests (:mod:`torchxai.fidelity`: deduction, augmentation, synthetic) on
   all malicious rows of the subset (``--max-explained`` caps them), each explained
   by its most probable component's coefficients (``dmm``) and by their product
   with the input (``dmm_contribution``: the component's per-feature contribution
   ``x_f beta_f``, zero for absent features, which a global ranking otherwise puts
   among the top k although nullifying them changes nothing), against LIME
   (``torchxai.explain(..., method="lime")``) and the tests' random features. The
   augmentation donor is the seed's: the benign row with the highest malware
   probability below 0.5.

Differences from the seed: SVI instead of a 20,000-iteration Gibbs sampler; the
seed's response was the probability (its ``Analysis.R`` then treats it as a logit),
here it is the logit; the seed ranked every input by one component's coefficients,
here each input by its own component. Deduction sets the top-k features to 0
(absent); the synthetic test's background is all ones, as in the seed's
``syn_test`` (this MLP calls the all-zero row malicious, so a zero background would
make the test vacuous); see :mod:`torchxai.fidelity`.
"""

from __future__ import annotations

import argparse
import logging
import sys
import time
from pathlib import Path
from typing import Any

import torch
from torch import Tensor

import torchxai
from torchxai.bayes import DMMRegression, class_logit
from torchxai.datasets import binarize, load_contagio, train_test_split
from torchxai.fidelity import fidelity_table
from torchxai.io import write_json
from torchxai.models import load_pdf_mlp

MALICIOUS = 1


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--n-inputs", type=int, default=4999)
    parser.add_argument("--held-out", type=float, default=0.2)
    parser.add_argument("--n-components", type=int, default=3)
    parser.add_argument("--steps", type=int, default=2000)
    parser.add_argument("--lr", type=float, default=0.01)
    parser.add_argument("--ks", default="5,10,20")
    parser.add_argument("--max-explained", type=int, default=None)
    parser.add_argument("--lime-samples", type=int, default=500)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--threads", type=int, default=None)
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--data-dir", default=None)
    parser.add_argument("--progress", action="store_true")
    parser.add_argument("--out", default="results/reproduce_dmm.json")
    return parser.parse_args(argv)


def load_subset(args: argparse.Namespace) -> tuple[Any, Any]:
    """The seeded stratified subset of ``--n-inputs`` rows, split 80/20."""
    data = load_contagio(args.data_dir)
    total = data.labels.shape[0]
    if args.n_inputs < total:
        subset, _ = train_test_split(data, 1.0 - args.n_inputs / total, args.seed)
    else:
        subset = data
    return train_test_split(subset, args.held_out, args.seed)


def rmse(a: Tensor, b: Tensor) -> float:
    return float((a - b).square().mean().sqrt())


def fit_dmm(
    args: argparse.Namespace, model: torch.nn.Module, X: Tensor
) -> tuple[DMMRegression, float]:
    y = class_logit(model, X, MALICIOUS)
    start = time.perf_counter()
    dmm = DMMRegression(
        args.n_components,
        steps=args.steps,
        lr=args.lr,
        seed=args.seed,
        progress=args.progress,
    ).fit(X, y)
    return dmm, time.perf_counter() - start


def held_out_rmse(dmm: DMMRegression, model: torch.nn.Module, X: Tensor) -> dict:
    y = class_logit(model, X, MALICIOUS)
    p_model = torch.sigmoid(y)
    return {
        "n_held_out": X.shape[0],
        "rmse_mixture_mean": rmse(torch.sigmoid(dmm.predict(X)), p_model),
        "rmse_assigned_component": rmse(torch.sigmoid(dmm.predict(X, y)), p_model),
        "rmse_logit_assigned_component": rmse(dmm.predict(X, y), y),
    }


def dmm_scores(dmm: DMMRegression, model: torch.nn.Module, X: Tensor) -> Tensor:
    """(B, p) each input's most probable component's coefficients."""
    y = class_logit(model, X, MALICIOUS)
    component = dmm.responsibilities(X, y).argmax(dim=1)
    return dmm.coef_[component].to(X.dtype)


def seed_donor(model: torch.nn.Module, X: Tensor) -> Tensor:
    """The benign-predicted row with the highest malware probability (the seed's)."""
    with torch.no_grad():
        p = torch.softmax(model(X), dim=1)[:, MALICIOUS]
    p = torch.where(p < 0.5, p, -1.0)
    return X[int(p.argmax())]


def run(args: argparse.Namespace) -> dict[str, Any]:
    device = torch.device(args.device)
    model = load_pdf_mlp(data_dir=args.data_dir, device=device)
    fit_set, held_out = load_subset(args)
    X_fit = binarize(fit_set.features).to(device)
    X_held = binarize(held_out.features).to(device)

    dmm, seconds = fit_dmm(args, model, X_fit)
    summary = {
        "n_fit": X_fit.shape[0],
        "fit_seconds": seconds,
        "steps": dmm.n_steps_,
        "converged": dmm.converged_,
        "weights": dmm.weights_.tolist(),
        "n_components_used": dmm.n_components_used_,
        **held_out_rmse(dmm, model, X_held),
    }
    print(f"DMM on the PDF MLP (device {device})")
    for key, value in summary.items():
        print(f"  {key}: {value}")

    X_all = torch.cat([X_fit, X_held])
    labels = torch.cat([fit_set.labels, held_out.labels]).to(device)
    X_mal = X_all[labels == MALICIOUS][: args.max_explained]
    donor = seed_donor(model, X_all)
    ks = [int(k) for k in args.ks.split(",")]
    scores = dmm_scores(dmm, model, X_mal)
    explanations: dict[str, Any] = {"dmm": scores, "dmm_contribution": scores * X_mal}
    start = time.perf_counter()
    explanations["lime"] = torchxai.explain(
        model,
        X_mal,
        method="lime",
        target=MALICIOUS,
        output="logits",
        n_samples=args.lime_samples,
        seed=args.seed,
        progress=args.progress,
    )
    lime_seconds = time.perf_counter() - start
    tables: dict[str, Any] = {}
    for name, explanation in explanations.items():
        table = fidelity_table(
            model,
            X_mal,
            explanation,
            ks,
            MALICIOUS,
            donors=donor,
            background=1.0,
            seed=args.seed,
        )
        tables[name] = table.to_dict()
        print(f"\nFidelity, {name} vs random, {X_mal.shape[0]} malicious inputs")
        print(table.format())
    return {
        "device": str(device),
        "dmm": summary,
        "n_explained": X_mal.shape[0],
        "lime_seconds": lime_seconds,
        "fidelity": tables,
        "options": vars(args),
    }


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    logging.basicConfig(level=logging.WARNING)
    if args.threads:
        torch.set_num_threads(args.threads)
    record = run(args)
    write_json(Path(args.out), record)
    print(f"\nwrote {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
