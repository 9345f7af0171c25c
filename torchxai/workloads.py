"""Models and inputs named on the command line: built-ins, user files, data sets.

The ``torchxai explain`` and ``torchxai fidelity`` commands name a model and its
inputs with a word or a path; this module turns those into a torch module and an
input tensor.

* Models (:func:`load_model`): a built-in name of :data:`BUILTIN_MODELS` (the
  ported target models of the original work), a file holding a whole module
  (TorchScript, or a pickled ``nn.Module`` saved with ``torch.save``; unpickling
  runs code, so load only files you trust), or ``package.module:factory``, a
  function called without arguments that returns the module.
* Inputs: a file (:func:`load_inputs`: ``.pt``, ``.npy`` or ``.csv``) or a slice
  of a built-in data set (:func:`load_dataset_slice`).
"""

from __future__ import annotations

import csv
import importlib
import os
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import Tensor, nn

from torchxai.errors import InvalidInputError

BUILTIN_MODELS: dict[str, str] = {
    "pdf_mlp": "contagio",
    "fashion_cnn": "fashion_mnist",
    "function_start_rnn": "function_starts",
    "function_start_rnn_fixed": "function_starts",
}
"""Built-in model name -> the data set it was trained on."""

DATASETS = ("contagio", "fashion_mnist", "function_starts")
"""Built-in data sets whose slices can be explained."""

SPLITS = ("test", "train", "all")


@dataclass
class DataSlice:
    """Inputs to explain, with what is known about them.

    Attributes:
        inputs: (N, *input_shape) the inputs (binarized features, images in
            [0, 1], or int64 tokens).
        labels: (N,) int64 true classes, (N, L) per-position labels, or None.
        feature_names: one name per input element (tabular data), or None.
        description: where the inputs came from, for manifests and messages.
    """

    inputs: Tensor
    labels: Tensor | None
    feature_names: list[str] | None
    description: str


def load_model(
    spec: str,
    *,
    data_dir: str | os.PathLike[str] | None = None,
    device: str | torch.device | None = None,
) -> nn.Module:
    """The model named by ``spec``, in eval mode, on ``device``.

    Args:
        spec: a name of :data:`BUILTIN_MODELS`, a path to a TorchScript or pickled
            module file, or ``package.module:factory``.
        data_dir: the data directory of the built-in models.
        device: where to put the model (default: the CPU).

    Returns:
        The module in eval mode.

    Raises:
        InvalidInputError: ``spec`` names nothing loadable.
        DataFileMissingError: a built-in model's weights are not in the data
            directory.
    """
    target = torch.device(device or "cpu")
    if spec in BUILTIN_MODELS:
        model = _builtin(spec, data_dir, target)
    elif ":" in spec and not Path(spec).exists():
        model = _from_factory(spec)
    else:
        model = _from_file(Path(spec))
    return model.to(target).eval()


def _builtin(name: str, data_dir: Any, device: torch.device) -> nn.Module:
    from torchxai import models

    if name == "pdf_mlp":
        return models.load_pdf_mlp(data_dir, device=device)
    if name == "fashion_cnn":
        return models.load_fashion_cnn(data_dir, device=device)
    fixed = name == "function_start_rnn_fixed"
    return models.load_function_start_rnn(data_dir, fixed=fixed, device=device)


def _from_factory(spec: str) -> nn.Module:
    module_name, _, attribute = spec.partition(":")
    try:
        factory = getattr(importlib.import_module(module_name), attribute)
    except (ImportError, AttributeError) as exc:
        raise InvalidInputError(
            f"model {spec!r}: cannot import {attribute!r} from {module_name!r} "
            f"({exc}); expected a built-in name ({', '.join(BUILTIN_MODELS)}), a "
            "model file, or package.module:factory"
        ) from exc
    model = factory()
    if not isinstance(model, nn.Module):
        raise InvalidInputError(
            f"model {spec!r}: the factory returned a {type(model).__name__}; "
            "expected a torch.nn.Module"
        )
    return model


def _from_file(path: Path) -> nn.Module:
    if not path.is_file():
        raise InvalidInputError(
            f"model {str(path)!r} is neither a built-in model "
            f"({', '.join(BUILTIN_MODELS)}) nor an existing file nor "
            "package.module:factory"
        )
    try:
        return torch.jit.load(str(path), map_location="cpu")
    except RuntimeError:
        pass  # not TorchScript: try a pickled module
    try:
        model = torch.load(path, map_location="cpu", weights_only=False)
    except Exception as exc:  # torch.load raises many types for foreign files
        raise InvalidInputError(
            f"model file {str(path)!r} is not TorchScript nor a saved module "
            f"({type(exc).__name__}: {exc})"
        ) from exc
    if not isinstance(model, nn.Module):
        raise InvalidInputError(
            f"model file {str(path)!r} holds a {type(model).__name__}; expected a "
            "whole torch.nn.Module (torch.save(model, path)); a state dict needs "
            "its model class: use package.module:factory"
        )
    return model


def load_inputs(path: str | os.PathLike[str]) -> Tensor:
    """Read a batch of inputs from a file.

    Formats, by suffix: ``.pt`` / ``.pth`` (a tensor, or a dict with an
    ``"inputs"`` tensor; loaded with ``weights_only=True``), ``.npy`` (an array),
    ``.csv`` (one input per row, numbers only; a header row is skipped). Floating
    arrays become float32; integer arrays int64 (token sequences).

    Args:
        path: the file.

    Returns:
        (N, *input_shape) the inputs on the CPU.
    """
    file = Path(path)
    if not file.is_file():
        raise InvalidInputError(f"inputs file {str(file)!r} does not exist")
    suffix = file.suffix.lower()
    if suffix in (".pt", ".pth"):
        value = torch.load(file, map_location="cpu", weights_only=True)
        if isinstance(value, dict):
            value = value.get("inputs")
        if not isinstance(value, Tensor):
            raise InvalidInputError(
                f"inputs file {str(file)!r} holds no tensor; expected a tensor or "
                "a dict with an 'inputs' tensor"
            )
        return _normalize(value.detach(), file)
    if suffix == ".npy":
        return _normalize(torch.from_numpy(np.load(file, allow_pickle=False)), file)
    if suffix == ".csv":
        return _normalize(torch.from_numpy(_read_csv(file)), file)
    raise InvalidInputError(
        f"inputs file {str(file)!r}: unknown suffix {suffix!r}; expected .pt, .npy "
        "or .csv"
    )


def _read_csv(path: Path) -> np.ndarray:
    with open(path, newline="", encoding="utf-8") as stream:
        rows = [row for row in csv.reader(stream) if row]
    if rows and not _numeric(rows[0]):
        rows = rows[1:]
    try:
        values = [[float(cell) for cell in row] for row in rows]
        array = np.asarray(values, dtype=np.float64)
    except ValueError as exc:
        raise InvalidInputError(
            f"inputs file {str(path)!r}: expected numbers only ({exc})"
        ) from exc
    if array.ndim != 2:
        raise InvalidInputError(
            f"inputs file {str(path)!r}: rows of different lengths or no rows"
        )
    return array.astype(np.float32)


def _numeric(row: list[str]) -> bool:
    try:
        [float(cell) for cell in row]
    except ValueError:
        return False
    return True


def _normalize(value: Tensor, path: Path) -> Tensor:
    if value.dim() < 2 or value.shape[0] == 0:
        raise InvalidInputError(
            f"inputs file {str(path)!r} holds shape {tuple(value.shape)}; expected "
            "a non-empty batch (N, *input_shape)"
        )
    if value.is_floating_point():
        return value.to(torch.float32)
    if value.dtype == torch.bool:
        return value.to(torch.float32)
    return value.to(torch.int64)


def load_dataset_slice(
    name: str,
    start: int = 0,
    stop: int | None = None,
    *,
    split: str = "test",
    seed: int = 0,
    max_binaries: int | None = None,
    data_dir: str | os.PathLike[str] | None = None,
) -> DataSlice:
    """Rows ``start:stop`` of a built-in data set, ready for its built-in model.

    * ``contagio``: binarized PDF features (N, 135) float32; ``split`` "test" or
      "train" is the seeded stratified 20 % / 80 % split, "all" every row.
    * ``fashion_mnist``: images (N, 28, 28) in [0, 1]; "test" or "train".
    * ``function_starts``: 200-byte token windows (N, 200) int64 of the ByteWeight
      binaries, "test" or "train" being the seeded 30 % / 70 % split by binary;
      ``max_binaries`` reads only the first ones of that part.

    Args:
        name: one of :data:`DATASETS`.
        start: the first row.
        stop: one past the last row (default: the end).
        split: one of :data:`SPLITS`.
        seed: the seed of the train/test split.
        max_binaries: function starts only: read at most this many binaries.
        data_dir: the data directory.

    Returns:
        The :class:`DataSlice`.
    """
    if name not in DATASETS:
        raise InvalidInputError(
            f"dataset {name!r} is not built in; expected one of {', '.join(DATASETS)}"
        )
    if split not in SPLITS:
        raise InvalidInputError(f"split {split!r}: expected one of {', '.join(SPLITS)}")
    loaders: dict[str, Callable[..., DataSlice]] = {
        "contagio": _contagio,
        "fashion_mnist": _fashion_mnist,
        "function_starts": _function_starts,
    }
    whole = loaders[name](split, seed, max_binaries, data_dir)
    n = whole.inputs.shape[0]
    end = n if stop is None else stop
    if not 0 <= start < end <= n:
        raise InvalidInputError(
            f"rows {start}:{stop} of {name} ({split}, {n} rows): expected 0 <= start "
            f"< stop <= {n}"
        )
    return DataSlice(
        inputs=whole.inputs[start:end],
        labels=None if whole.labels is None else whole.labels[start:end],
        feature_names=whole.feature_names,
        description=f"{whole.description}[{start}:{end}]",
    )


def _contagio(split: str, seed: int, _max: int | None, data_dir: Any) -> DataSlice:
    from torchxai.datasets import binarize, load_contagio, train_test_split

    data = load_contagio(data_dir)
    if split != "all":
        train, test = train_test_split(data, test_fraction=0.2, seed=seed)
        data = test if split == "test" else train
    return DataSlice(
        inputs=binarize(data.features),
        labels=data.labels,
        feature_names=list(data.feature_names),
        description=f"contagio/{split}(seed={seed})",
    )


def _fashion_mnist(
    split: str, _seed: int, _max: int | None, data_dir: Any
) -> DataSlice:
    from torchxai.datasets import load_fashion_mnist

    if split == "all":
        raise InvalidInputError(
            "fashion_mnist has splits 'test' and 'train', not 'all'"
        )
    data = load_fashion_mnist(split, data_dir)
    return DataSlice(data.images, data.labels, None, f"fashion_mnist/{split}")


def _function_starts(
    split: str, seed: int, max_binaries: int | None, data_dir: Any
) -> DataSlice:
    from torchxai.datasets import (
        list_byteweight_binaries,
        load_function_start_windows,
        split_binaries,
    )

    paths = list_byteweight_binaries(data_dir)
    if split != "all":
        train, test = split_binaries(paths, test_fraction=0.3, seed=seed)
        paths = test if split == "test" else train
    if max_binaries is not None:
        paths = paths[:max_binaries]
    data = load_function_start_windows(paths)
    description = f"function_starts/{split}(seed={seed}, binaries={len(paths)})"
    return DataSlice(data.tokens, data.labels, None, description)


# --- choosing what to explain ------------------------------------------------------


@dataclass
class FidelityInputs:
    """The inputs of a fidelity run, their targets and their donors.

    Attributes:
        inputs: (n, *input_shape) the chosen inputs.
        target: (n,) classes, or (n, 2) ``(position, class)`` for a labeller.
        donors: (n, *input_shape) one input of another class per chosen input (for
            the augmentation test), or None if some input has none.
        rows: the chosen inputs' row numbers in the slice.
    """

    inputs: Tensor
    target: Tensor
    donors: Tensor | None
    rows: list[int]


@torch.no_grad()
def predicted_classes(
    model: nn.Module, inputs: Tensor, batch_size: int = 1024
) -> Tensor:
    """The arg-max class of the model's outputs: (N,) or (N, L) int64."""
    parts = [
        model(inputs[start : start + batch_size]).argmax(-1)
        for start in range(0, inputs.shape[0], batch_size)
    ]
    return torch.cat(parts)


def first_predicted_positions(
    model: nn.Module,
    tokens: Tensor,
    *,
    target_class: int | None = None,
    batch_size: int = 1024,
) -> Tensor:
    """A default target for each sequence: its first position of interest.

    The first non-padding position (token != 0) that the model predicts as
    ``target_class`` (default: any class but 0; for the function-start RNN, the
    first predicted function start); position 0 where there is none.

    Args:
        model: a sequence labeller, (N, L) -> (N, L, C).
        tokens: (N, L) int64 sequences, 0 = padding.
        target_class: the class of interest, or None for any non-zero class.
        batch_size: inputs per model call.

    Returns:
        (N, 2) int64 ``(position, predicted class at that position)``.
    """
    predicted = predicted_classes(model, tokens, batch_size)
    hits = _hits(predicted, tokens, target_class)
    position = torch.where(hits.any(1), hits.to(torch.int8).argmax(1), 0)
    classes = predicted.gather(1, position[:, None])[:, 0]
    return torch.stack([position, classes], dim=1)


def _hits(predicted: Tensor, tokens: Tensor, target_class: int | None) -> Tensor:
    wanted = predicted != 0 if target_class is None else predicted == target_class
    return wanted & (tokens != 0)


def select_fidelity_inputs(
    model: nn.Module,
    inputs: Tensor,
    *,
    n_inputs: int,
    target_class: int | None = None,
    need_donors: bool = True,
    seed: int = 0,
    batch_size: int = 1024,
) -> FidelityInputs:
    """Choose the inputs, targets and donors of a fidelity run from a slice.

    Classifiers: the inputs predicted as ``target_class`` (default: every input),
    explained for their predicted class. Sequence labellers: the sequences with a
    non-padding position predicted as ``target_class`` (default 1), explained at
    the first such position. The first ``n_inputs`` of them are taken. Each gets a
    donor drawn (seeded) among the slice's inputs whose prediction differs from its
    target (for a labeller: at the target position, on a non-padding token).

    Args:
        model: the model, returning (N, C) or (N, L, C) scores.
        inputs: (N, *input_shape) the slice, on the model's device.
        n_inputs: the most inputs to choose.
        target_class: see above.
        need_donors: draw donors.
        seed: the seed of the donor draw.
        batch_size: inputs per model call.

    Returns:
        The :class:`FidelityInputs`.

    Raises:
        InvalidInputError: no input of the slice qualifies.
    """
    predicted = predicted_classes(model, inputs, batch_size)
    labeller = predicted.dim() == 2
    if labeller:
        wanted = 1 if target_class is None else target_class
        hits = _hits(predicted, inputs, wanted)
        eligible = hits.any(1)
        position = hits.to(torch.int8).argmax(1)
        target_all = torch.stack([position, torch.full_like(position, wanted)], 1)
    else:
        eligible = torch.ones_like(predicted, dtype=torch.bool)
        if target_class is not None:
            eligible = predicted == target_class
        target_all = predicted
    rows = torch.nonzero(eligible).flatten()[:n_inputs]
    if rows.numel() == 0:
        raise InvalidInputError(
            f"no input of the slice is predicted as class {target_class}; choose "
            "another --class or a larger slice"
        )
    target = target_all[rows]
    donors = _draw_donors(predicted, inputs, target, seed) if need_donors else None
    return FidelityInputs(inputs[rows], target, donors, rows.tolist())


def _draw_donors(
    predicted: Tensor, inputs: Tensor, target: Tensor, seed: int
) -> Tensor | None:
    """One input per target whose prediction differs from it; None if one has none."""
    generator = torch.Generator().manual_seed(seed)
    chosen = []
    for row in target.cpu():
        if row.dim() == 0:
            candidates = predicted != row.to(predicted.device)
        else:
            position, cls = int(row[0]), int(row[1])
            candidates = (predicted[:, position] != cls) & (inputs[:, position] != 0)
        index = torch.nonzero(candidates.cpu()).flatten()
        if index.numel() == 0:
            return None
        pick = torch.randint(index.numel(), (1,), generator=generator)
        chosen.append(int(index[pick]))
    return inputs[chosen]
