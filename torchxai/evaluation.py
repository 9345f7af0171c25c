"""How well the ported target models do on their data: accuracy, precision, recall, F1.

The figures reproduce the checks of the original work:

* PDF malware MLP: accuracy on all 9,999 contagio rows with binarized features (the
  seed reports 0.9918), on a seeded stratified 20 % test split, and the detection
  rate on the evasive samples of csmutz/pdfrate.
* Fashion-MNIST CNN: accuracy on the 9,680 official test images of the data
  directory (the seed evaluated all 10,000; 320 are not separable in the stored
  copy, see ``fashion_mnist/SOURCE.txt``).
* Function-start RNN (``O1_Bi_Rnn.h5`` and the patched ``O1_Bi_Rnn_fixed.h5``):
  per-byte precision, recall and F1 of the class "function start".

The seed's train/test pickles for the RNN were never published. Windows are
re-derived from the 129 ByteWeight gcc -O1 x86-32 binaries
(:func:`torchxai.datasets.load_function_start_windows`): each binary's ``.text``
is cut into non-overlapping 200-byte windows from its first byte, the last window
zero-padded. The figures are therefore over all windows of all binaries (which
include the seed's training data), and also over a seeded by-binary test split
(:func:`torchxai.datasets.split_binaries`, 30 %, seed 0) that is not the seed's.
Padding positions are left out of every count; the seed's ``perf_measure`` counted
them as negatives, which changes nothing unless the model predicts a start on
padding.
"""

from __future__ import annotations

import logging
import os
import time
from collections.abc import Callable
from functools import partial
from typing import Any

import torch
from torch import nn

from torchxai.datasets import (
    ImageDataset,
    SequenceDataset,
    TabularDataset,
    binarize,
    list_byteweight_binaries,
    load_contagio,
    load_fashion_mnist,
    load_function_start_windows,
    load_pdfrate_attacks,
    split_binaries,
    train_test_split,
)
from torchxai.errors import InvalidInputError

logger = logging.getLogger(__name__)

PDF_TEST_FRACTION = 0.2
BINARY_TEST_FRACTION = 0.3
SPLIT_SEED = 0
WINDOW = 200


def _as_label_tensor(values: Any, name: str) -> torch.Tensor:
    tensor = torch.as_tensor(values)
    if tensor.is_floating_point() or tensor.is_complex():
        raise InvalidInputError(
            f"{name} must hold integer or boolean class labels; "
            f"got dtype {tensor.dtype}"
        )
    return tensor.to(torch.int64)


def _check_pair(predictions: Any, targets: Any) -> tuple[torch.Tensor, torch.Tensor]:
    pred = _as_label_tensor(predictions, "predictions")
    true = _as_label_tensor(targets, "targets")
    if pred.shape != true.shape:
        raise InvalidInputError(
            f"predictions and targets must have the same shape; got "
            f"{tuple(pred.shape)} and {tuple(true.shape)}"
        )
    return pred, true.to(pred.device)


def accuracy(predictions: Any, targets: Any) -> float:
    """The share of positions where the predicted class equals the target.

    Args:
        predictions: int (...) predicted classes.
        targets: int (...) true classes, same shape.

    Returns:
        ``mean(predictions == targets)``; NaN when there are no positions.
    """
    pred, true = _check_pair(predictions, targets)
    if pred.numel() == 0:
        return float("nan")
    return float((pred == true).double().mean())


def binary_precision_recall_f1(
    predictions: Any, targets: Any, mask: Any | None = None
) -> dict[str, float]:
    """Precision, recall and F1 of the positive class 1, over the masked positions.

    ``precision = tp / (tp + fp)``, ``recall = tp / (tp + fn)``,
    ``f1 = 2 tp / (2 tp + fp + fn)``; a zero denominator gives 0.0 (scikit-learn's
    ``zero_division=0``). Any nonzero label counts as positive.

    Args:
        predictions: int or bool (...) predicted labels.
        targets: int or bool (...) true labels, same shape.
        mask: bool (...) positions to count (e.g. ``tokens != 0`` to skip padding);
            all positions when None.

    Returns:
        A dict with ``precision``, ``recall``, ``f1``, ``accuracy`` and the counts
        ``tp``, ``fp``, ``fn``, ``tn``, ``n`` (as floats).
    """
    pred, true = _check_pair(predictions, targets)
    if mask is not None:
        keep = torch.as_tensor(mask, device=pred.device)
        if keep.dtype != torch.bool or keep.shape != pred.shape:
            raise InvalidInputError(
                f"mask must be a bool tensor of shape {tuple(pred.shape)}; got "
                f"dtype {keep.dtype} and shape {tuple(keep.shape)}"
            )
        pred, true = pred[keep], true[keep]
    pred, true = pred != 0, true != 0

    tp = int((pred & true).sum())
    fp = int((pred & ~true).sum())
    fn = int((~pred & true).sum())
    tn = int((~pred & ~true).sum())
    n = tp + fp + fn + tn
    return {
        "precision": tp / (tp + fp) if tp + fp else 0.0,
        "recall": tp / (tp + fn) if tp + fn else 0.0,
        "f1": 2 * tp / (2 * tp + fp + fn) if tp + fp + fn else 0.0,
        "accuracy": (tp + tn) / n if n else float("nan"),
        "tp": float(tp),
        "fp": float(fp),
        "fn": float(fn),
        "tn": float(tn),
        "n": float(n),
    }


def predict_classes(
    model: nn.Module,
    inputs: torch.Tensor,
    *,
    batch_size: int = 1024,
    progress: bool = False,
) -> torch.Tensor:
    """Arg-max class of the model's logits, batched, on the model's device.

    Args:
        model: a module returning logits with classes on the last dimension.
        inputs: (N, ...) inputs; floating inputs are cast to the model's dtype.
        batch_size: the number of inputs per forward pass.
        progress: show a tqdm progress bar over the batches.

    Returns:
        int64 tensor on the CPU of the logits' shape without the last dimension,
        e.g. (N,) for classifiers and (N, L) for sequence labellers.
    """
    if (
        isinstance(batch_size, bool)
        or not isinstance(batch_size, int)
        or batch_size < 1
    ):
        raise InvalidInputError(
            f"batch_size must be a positive integer; got {batch_size!r}"
        )
    reference = next(model.parameters(), None)
    device = reference.device if reference is not None else torch.device("cpu")
    dtype = reference.dtype if reference is not None else torch.float32

    batches = inputs.split(batch_size)
    if progress:
        from tqdm.auto import tqdm

        batches = tqdm(batches, desc=type(model).__name__, unit="batch")
    outputs = []
    with torch.no_grad():
        for batch in batches:
            batch = batch.to(device)
            if batch.is_floating_point():
                batch = batch.to(dtype)
            outputs.append(model(batch).argmax(dim=-1).cpu())
    return torch.cat(outputs) if outputs else torch.empty(0, dtype=torch.int64)


def evaluate_pdf_mlp(
    model: nn.Module, dataset: TabularDataset, *, batch_size: int = 4096
) -> dict[str, Any]:
    """Accuracy, precision, recall and F1 (class 1 = malicious) of the PDF MLP.

    Args:
        model: the MLP (input (N, 135) binarized features, logits (N, 2)).
        dataset: raw features; they are binarized here.
        batch_size: rows per forward pass.

    Returns:
        A dict with ``accuracy``, ``precision``, ``recall``, ``f1`` and ``n``.
    """
    predictions = predict_classes(
        model, binarize(dataset.features), batch_size=batch_size
    )
    scores = binary_precision_recall_f1(predictions, dataset.labels)
    return {
        "accuracy": accuracy(predictions, dataset.labels),
        "precision": scores["precision"],
        "recall": scores["recall"],
        "f1": scores["f1"],
        "n": len(dataset),
    }


def evaluate_fashion_cnn(
    model: nn.Module, dataset: ImageDataset, *, batch_size: int = 1000
) -> dict[str, Any]:
    """Accuracy of the Fashion-MNIST CNN, overall and per class.

    Args:
        model: the CNN (input (N, 28, 28) in [0, 1], logits (N, 10)).
        dataset: the images and labels.
        batch_size: images per forward pass.

    Returns:
        A dict with ``accuracy``, ``per_class_accuracy`` (10 floats, NaN for an
        absent class) and ``n``.
    """
    predictions = predict_classes(model, dataset.images, batch_size=batch_size)
    per_class = [
        accuracy(predictions[dataset.labels == c], dataset.labels[dataset.labels == c])
        for c in range(10)
    ]
    return {
        "accuracy": accuracy(predictions, dataset.labels),
        "per_class_accuracy": per_class,
        "n": len(dataset),
    }


def evaluate_function_start_rnn(
    model: nn.Module,
    windows: SequenceDataset,
    *,
    test_binaries: list[int] | None = None,
    batch_size: int = 4096,
    progress: bool = False,
) -> dict[str, Any]:
    """Per-byte precision, recall and F1 of "function start", padding left out.

    Args:
        model: the RNN (tokens (N, L), logits (N, L, 2)).
        windows: the token windows and labels.
        test_binaries: indices into ``windows.paths`` of a held-out part; when
            given, the figures are also computed over its windows only.
        batch_size: windows per forward pass.
        progress: show a progress bar over the batches.

    Returns:
        ``{"all": scores, "test_split": scores or None}``, each scores dict as from
        :func:`binary_precision_recall_f1` plus ``windows`` and ``binaries``.
    """
    predictions = predict_classes(
        model, windows.tokens, batch_size=batch_size, progress=progress
    )
    mask = windows.mask
    result: dict[str, Any] = {
        "all": _sequence_scores(predictions, windows, mask, len(windows.paths)),
        "test_split": None,
    }
    if test_binaries is not None:
        in_test = torch.isin(
            windows.binary_index, torch.tensor(test_binaries, dtype=torch.int64)
        )
        part = mask & in_test[:, None]
        result["test_split"] = _sequence_scores(
            predictions, windows, part, len(set(test_binaries))
        )
        result["test_split"]["windows"] = int(in_test.sum())
    return result


def _sequence_scores(
    predictions: torch.Tensor,
    windows: SequenceDataset,
    mask: torch.Tensor,
    binaries: int,
) -> dict[str, Any]:
    scores: dict[str, Any] = dict(
        binary_precision_recall_f1(predictions, windows.labels, mask)
    )
    scores["windows"] = len(windows)
    scores["binaries"] = binaries
    return scores


def evaluate_ported_models(
    data_dir: str | os.PathLike[str] | None = None,
    progress: bool = False,
    *,
    max_binaries: int | None = None,
    max_images: int | None = None,
    device: str | torch.device | None = None,
) -> dict[str, Any]:
    """Load each ported model with its data and compute the figures above.

    Args:
        data_dir: the data directory; defaults to ``$TORCHXAI_DATA``.
        progress: show progress bars (reading binaries, RNN batches).
        max_binaries: use only the first ``max_binaries`` ByteWeight binaries (in
            sorted path order) for the RNN figures; all 129 when None.
        max_images: use only the first ``max_images`` Fashion-MNIST test images
            (for a quick run); all when None.
        device: where to run the models (default: the CPU).

    Returns:
        A JSON-serialisable dict with keys ``pdf_mlp``, ``fashion_cnn``,
        ``function_start_rnn`` and ``function_start_rnn_fixed`` (each with its
        figures, data description and ``seconds``) and ``settings``.

    Raises:
        DataFileMissingError: a model or data file is not in the data directory.
    """
    if max_binaries is not None and (
        isinstance(max_binaries, bool)
        or not isinstance(max_binaries, int)
        or max_binaries < 2
    ):
        raise InvalidInputError(
            f"max_binaries must be None or an integer >= 2; got {max_binaries!r}"
        )
    if max_images is not None and (
        isinstance(max_images, bool)
        or not isinstance(max_images, int)
        or max_images < 1
    ):
        raise InvalidInputError(
            f"max_images must be None or a positive integer; got {max_images!r}"
        )
    from torchxai.models import load_fashion_cnn, load_function_start_rnn, load_pdf_mlp

    results: dict[str, Any] = {
        "settings": {
            "pdf_test_fraction": PDF_TEST_FRACTION,
            "binary_test_fraction": BINARY_TEST_FRACTION,
            "split_seed": SPLIT_SEED,
            "window": WINDOW,
            "max_binaries": max_binaries,
            "max_images": max_images,
            "device": str(device or "cpu"),
        }
    }
    results["pdf_mlp"] = _timed(
        lambda: _pdf_figures(load_pdf_mlp(data_dir=data_dir, device=device), data_dir)
    )
    results["fashion_cnn"] = _timed(
        lambda: _fashion_figures(
            load_fashion_cnn(data_dir=data_dir, device=device), data_dir, max_images
        )
    )

    paths = list_byteweight_binaries(data_dir)
    if max_binaries is not None:
        paths = paths[:max_binaries]
    windows = load_function_start_windows(paths, WINDOW, progress=progress)
    _, test_paths = split_binaries(paths, BINARY_TEST_FRACTION, SPLIT_SEED)
    test_index = [paths.index(p) for p in test_paths]
    for key, fixed in (
        ("function_start_rnn", False),
        ("function_start_rnn_fixed", True),
    ):
        model = load_function_start_rnn(data_dir=data_dir, fixed=fixed, device=device)
        results[key] = _timed(
            partial(
                evaluate_function_start_rnn,
                model,
                windows,
                test_binaries=test_index,
                progress=progress,
            )
        )
        results[key]["test_binaries"] = [str(p.name) for p in test_paths]
    return results


def _timed(compute: Callable[[], dict[str, Any]]) -> dict[str, Any]:
    start = time.perf_counter()
    result = compute()
    result["seconds"] = round(time.perf_counter() - start, 3)
    logger.info("evaluation step done in %.1f s", result["seconds"])
    return result


def _pdf_figures(
    model: nn.Module, data_dir: str | os.PathLike[str] | None
) -> dict[str, Any]:
    contagio = load_contagio(data_dir)
    _, test = train_test_split(contagio, PDF_TEST_FRACTION, SPLIT_SEED)
    attacks = load_pdfrate_attacks("all", data_dir)
    return {
        "all_rows": evaluate_pdf_mlp(model, contagio),
        "test_split": evaluate_pdf_mlp(model, test),
        "pdfrate_attacks_detection_rate": evaluate_pdf_mlp(model, attacks)["accuracy"],
        "pdfrate_attacks_n": len(attacks),
    }


def _fashion_figures(
    model: nn.Module,
    data_dir: str | os.PathLike[str] | None,
    max_images: int | None,
) -> dict[str, Any]:
    test = load_fashion_mnist("test", data_dir)
    if max_images is not None:
        test = test.subset(torch.arange(min(max_images, len(test))))
    figures = evaluate_fashion_cnn(model, test)
    figures["data"] = [str(p) for p in test.source]
    return figures
