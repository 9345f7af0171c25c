"""Reproduce DMM-MEN on the Fashion-MNIST CNN, class Trouser (NeurIPS 2018).

Usage::

    python scripts/reproduce_dmm_men.py --out-dir results/dmm_men
    # a smoke run:
    python scripts/reproduce_dmm_men.py --n-inputs 200 --steps 100 --rounds 2 \\
        --out-dir /tmp/dmm_men_smoke

Steps, as in the seed (``dmm-mem/code``: ``cnn_fashion.py``, ``dmm_men.r``,
``xai_cnn_dmm_men.py``):

1. The Trouser images (class 1) of the official training and test parts (6,884
   here; the seed had all 7,000), ``--n-inputs`` caps them (seeded subset). The
   response is the CNN's logit of Trouser; the features are the 300 pixels of
   highest variance over these images (:func:`torchxai.bayes.high_variance_features`).
2. DMM-MEN with J = 6 components and K = 3 elastic nets, fitted by SVI.
3. One PNG heatmap per used component: its top 150 pixels by ``|coefficient|``,
   the most important brightest (the seed's ``hot`` colour map; the seed drew the
   most important the darkest).
4. The bootstrap fidelity tests (:func:`torchxai.bayes.bootstrap_fidelity`:
   nullification, filling, pathological; 10 rounds on 30% of the Trousers of the
   most common component, 75 features) against random pixels. Filling uses Dress
   images (class 3), the seed's ``data_3``. Pixels are ranked by ``|coefficient|``
   as in the seed (``abs``) and by signed coefficient (``signed``: the pixels that
   raise the Trouser logit first; with nullification to 0, a large negative
   coefficient ranked first would push towards Trouser, not away).

Differences from the seed: SVI instead of Gibbs sampling, see
:mod:`torchxai.bayes.dmm_men`; the fidelity tests' deviations are listed in
:mod:`torchxai.bayes.bootstrap_fidelity`.
"""

from __future__ import annotations

import argparse
import logging
import sys
import time
from pathlib import Path
from typing import Any

import numpy as np
import torch
from matplotlib import image as mpimg
from torch import Tensor

from torchxai.bayes import bootstrap_fidelity, explain_global, high_variance_features
from torchxai.bayes.bootstrap_fidelity import format_results
from torchxai.datasets import load_fashion_mnist
from torchxai.io import atomic_path, write_json
from torchxai.models import load_fashion_cnn

TROUSER, DRESS = 1, 3


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--n-inputs", type=int, default=None)
    parser.add_argument("--n-pixels", type=int, default=300)
    parser.add_argument("--n-components", type=int, default=6)
    parser.add_argument("--n-priors", type=int, default=3)
    parser.add_argument(
        "--estimator", choices=("posterior", "map"), default="posterior"
    )
    parser.add_argument("--steps", type=int, default=2000)
    parser.add_argument("--lr", type=float, default=0.01)
    parser.add_argument("--heatmap-pixels", type=int, default=150)
    parser.add_argument("--rounds", type=int, default=10)
    parser.add_argument("--fraction", type=float, default=0.3)
    parser.add_argument("--n-features", type=int, default=75)
    parser.add_argument("--rankings", default="signed,abs")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--threads", type=int, default=None)
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--data-dir", default=None)
    parser.add_argument("--progress", action="store_true")
    parser.add_argument("--out-dir", default="results/dmm_men")
    return parser.parse_args(argv)


def class_images(args: argparse.Namespace, label: int) -> Tensor:
    """Images of one class from both official parts; a seeded subset if capped."""
    parts = [load_fashion_mnist(split, args.data_dir) for split in ("train", "test")]
    images = torch.cat([p.images[p.labels == label] for p in parts])
    if args.n_inputs is not None and args.n_inputs < images.shape[0]:
        generator = torch.Generator().manual_seed(args.seed)
        keep = torch.randperm(images.shape[0], generator=generator)[: args.n_inputs]
        images = images[keep.sort().values]
    return images


def heatmap(ranking: Tensor, n_pixels: int, shape: tuple[int, ...]) -> np.ndarray:
    """Rank-scaled intensities of the top ``n_pixels``: the first ranked is 1."""
    values = np.zeros(int(np.prod(shape)))
    top = ranking[:n_pixels].numpy()
    values[top] = np.linspace(1.0, 1.0 / n_pixels, len(top))
    return values.reshape(shape)


def save_png(path: Path, array: np.ndarray) -> None:
    with atomic_path(path) as tmp:
        mpimg.imsave(tmp, array, cmap="hot", vmin=0.0, vmax=1.0, format="png")


def run(args: argparse.Namespace) -> dict[str, Any]:
    device = torch.device(args.device)
    out_dir = Path(args.out_dir)
    model = load_fashion_cnn(args.data_dir, device=device)
    trousers = class_images(args, TROUSER).to(device)
    pixels = high_variance_features(trousers, args.n_pixels)

    start = time.perf_counter()
    result = explain_global(
        model,
        trousers,
        TROUSER,
        method="dmm_men",
        feature_indices=pixels,
        n_components=args.n_components,
        n_priors=args.n_priors,
        estimator=args.estimator,
        steps=args.steps,
        lr=args.lr,
        seed=args.seed,
        progress=args.progress,
    )
    seconds = time.perf_counter() - start
    men = result.estimator
    X = trousers.reshape(trousers.shape[0], -1)[:, pixels.to(device)]
    p_model = torch.sigmoid(result.response)
    counts = result.component_counts()
    summary = {
        "n_inputs": trousers.shape[0],
        "n_pixels": args.n_pixels,
        "fit_seconds": seconds,
        "steps": men.n_steps_,
        "converged": men.converged_,
        "weights": men.weights_.tolist(),
        "inputs_per_component": counts.tolist(),
        "n_components_used": men.n_components_used_,
        "prior_assignment": men.prior_assignment_.tolist(),
        "lambda1": men.lambda1_.tolist(),
        "lambda2": men.lambda2_.tolist(),
        "prior_weights": men.prior_weights_.tolist(),
        "rmse_assigned_component": float(
            (torch.sigmoid(men.predict(X, result.response)) - p_model)
            .square()
            .mean()
            .sqrt()
        ),
        "rmse_mixture_mean": float(
            (torch.sigmoid(men.predict(X)) - p_model).square().mean().sqrt()
        ),
    }
    print(f"DMM-MEN on the Fashion CNN, class Trouser (device {device})")
    for key, value in summary.items():
        print(f"  {key}: {value}")

    heatmaps = []
    for j in range(men.n_components):
        if int(counts[j]) == 0:
            continue
        path = out_dir / f"heatmap_component_{j}.png"
        save_png(path, heatmap(result.ranking(j), args.heatmap_pixels, (28, 28)))
        heatmaps.append(str(path))
    print("heatmaps:", *heatmaps, sep="\n  ")

    main_component = int(counts.argmax())
    positives = trousers[result.labels == main_component]
    dresses = class_images(args, DRESS).to(device)
    fidelity = {}
    for by in args.rankings.split(","):
        tests = bootstrap_fidelity(
            model,
            positives,
            result.ranking(main_component, by=by),
            TROUSER,
            negatives=dresses,
            n_features=args.n_features,
            n_rounds=args.rounds,
            fraction=args.fraction,
            seed=args.seed,
        )
        print(
            f"\nBootstrap fidelity, component {main_component} "
            f"({positives.shape[0]} Trousers), top {args.n_features} pixels by "
            f"{by} coefficient vs random"
        )
        print(format_results(tests))
        fidelity[by] = {name: r.to_dict() for name, r in tests.items()}
    return {
        "device": str(device),
        "dmm_men": summary,
        "heatmaps": heatmaps,
        "fidelity_component": main_component,
        "fidelity": fidelity,
        "options": vars(args),
    }


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    logging.basicConfig(level=logging.WARNING)
    if args.threads:
        torch.set_num_threads(args.threads)
    record = run(args)
    path = Path(args.out_dir) / "reproduce_dmm_men.json"
    write_json(path, record)
    print(f"\nwrote {path}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
