"""Writing results: atomic files, explanations as JSON or CSV, PNG heatmaps.

Every writer here first writes a temporary file in the target's folder and then
renames it over the target (:func:`atomic_path`), so an interrupted run never
leaves a half-written file behind: the target is either the old file, the new one,
or absent.

* :func:`write_json`: any record holding tensors, numpy values or paths.
* :func:`save_explanation_json`: an :class:`~torchxai.explanation.Explanation` as
  JSON (its :meth:`~torchxai.explanation.Explanation.to_dict`).
* :func:`save_explanation_csv`: one row per explained input and feature element.
* :func:`heatmap_rgba` and :func:`save_heatmap`: the scores of one explained image
  or sequence as a PNG (matplotlib, drawn on a private figure; pyplot's global
  state is never touched).
"""

from __future__ import annotations

import contextlib
import csv
import json
import math
import os
import tempfile
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import Tensor

from torchxai.errors import InvalidInputError
from torchxai.explanation import Explanation

CSV_COLUMNS = ("input", "element", "feature", "name", "score", "rank")
"""The columns of :func:`save_explanation_csv`."""

HEATMAP_CMAP = "RdBu_r"
"""The diverging colour map of the heatmaps: red supports the target, blue opposes."""


@contextlib.contextmanager
def atomic_path(path: str | os.PathLike[str], *, mode: int = 0o644) -> Iterator[Path]:
    """A temporary path to write to; renamed over ``path`` when the block succeeds.

    The temporary file lies in the target's folder (created if needed), so the
    rename is atomic on POSIX file systems. If the block raises, the temporary file
    is removed and ``path`` is left as it was.

    Args:
        path: the file to write.
        mode: the permission bits of the written file.

    Yields:
        The temporary path; write the whole content to it inside the block.
    """
    target = Path(path)
    target.parent.mkdir(parents=True, exist_ok=True)
    handle, name = tempfile.mkstemp(
        dir=target.parent, prefix=f".{target.name}.", suffix=".tmp"
    )
    os.close(handle)
    tmp = Path(name)
    try:
        yield tmp
        os.chmod(tmp, mode)
        os.replace(tmp, target)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise


def write_bytes(path: str | os.PathLike[str], data: bytes) -> None:
    """Write ``data`` to ``path`` atomically (see :func:`atomic_path`)."""
    with atomic_path(path) as tmp:
        with open(tmp, "wb") as stream:
            stream.write(data)
            stream.flush()
            os.fsync(stream.fileno())


def write_text(path: str | os.PathLike[str], text: str) -> None:
    """Write ``text`` (UTF-8) to ``path`` atomically."""
    write_bytes(path, text.encode("utf-8"))


def torch_save(obj: Any, path: str | os.PathLike[str]) -> None:
    """``torch.save(obj)`` to ``path`` atomically."""
    with atomic_path(path) as tmp:
        with open(tmp, "wb") as stream:
            torch.save(obj, stream)
            stream.flush()
            os.fsync(stream.fileno())


def write_json(path: str | os.PathLike[str], record: Any) -> None:
    """Write ``record`` as indented JSON atomically.

    Tensors and numpy arrays become nested lists, their scalars numbers, paths
    strings. Non-finite floats are written as ``NaN`` / ``Infinity`` (Python's JSON
    extension), as :func:`json.dump` does.

    Args:
        path: the output file; its folder is created if needed.
        record: a JSON-serialisable object, possibly holding tensors, numpy values
            or paths.

    Raises:
        TypeError: ``record`` holds a value of another type.
    """
    text = json.dumps(record, indent=2, default=to_json_value)
    write_text(path, text + "\n")


def to_json_value(value: Any) -> Any:
    """The ``default=`` hook of :func:`json.dumps` for tensors, numpy values, paths."""
    if isinstance(value, Path):
        return str(value)
    if isinstance(value, Tensor):
        return value.detach().cpu().tolist()
    if hasattr(value, "tolist"):
        return value.tolist()
    if hasattr(value, "item"):
        return value.item()
    raise TypeError(f"cannot write a {type(value).__name__} as JSON")


def save_explanation_json(
    explanation: Explanation,
    path: str | os.PathLike[str],
    *,
    extra: dict[str, Any] | None = None,
) -> None:
    """Write an explanation as strict JSON (NaN as null), atomically.

    Args:
        explanation: the explanation of B inputs.
        path: the output file.
        extra: more keys to store beside the explanation's (e.g. the model's name);
            they must not collide with the explanation's own keys.
    """
    record = explanation.to_dict()
    if extra:
        clash = sorted(set(extra) & set(record))
        if clash:
            raise InvalidInputError(
                f"extra keys {clash} collide with the explanation's own keys; "
                "rename them"
            )
        record.update(extra)
    text = json.dumps(record, default=to_json_value, allow_nan=False)
    write_text(path, text + "\n")


def save_explanation_csv(
    explanation: Explanation,
    path: str | os.PathLike[str],
    *,
    feature_names: Sequence[str] | None = None,
    index_offset: int = 0,
) -> None:
    """Write an explanation as CSV, one row per explained input and feature element.

    Columns (:data:`CSV_COLUMNS`): ``input`` (the input's index plus
    ``index_offset``), ``element`` (the flat index of the element in the input),
    ``feature`` (its feature index from ``feature_map``, the element itself without
    one), ``name`` (``feature_names[element]``, empty without names), ``score``,
    ``rank`` (1 = the most important element of that input, from
    :meth:`~torchxai.explanation.Explanation.ranking`). Elements that are not
    features (``feature_map`` -1, e.g. sequence positions outside the explained
    window) are left out. Rows are ordered by input, then rank.

    Args:
        explanation: the explanation of B inputs of shape ``input_shape``.
        path: the output file.
        feature_names: one name per input element (``prod(input_shape)`` names),
            e.g. the 135 PDF features; optional.
        index_offset: added to the input index (for the rows of a slice of a data
            set).
    """
    numel = math.prod(explanation.input_shape)
    if feature_names is not None and len(feature_names) != numel:
        raise InvalidInputError(
            f"feature_names has {len(feature_names)} names; expected one per input "
            f"element ({numel})"
        )
    batch = explanation.batch_size
    scores = explanation.scores.detach().reshape(batch, -1).to(torch.float64).cpu()
    if explanation.feature_map is None:
        features = torch.arange(numel).expand(batch, numel)
    else:
        features = explanation.feature_map.detach().reshape(batch, -1).cpu()
    ranking = explanation.ranking().cpu()
    with atomic_path(path) as tmp:
        with open(tmp, "w", newline="", encoding="utf-8") as stream:
            writer = csv.writer(stream)
            writer.writerow(CSV_COLUMNS)
            for row in range(batch):
                _write_csv_rows(
                    writer,
                    row + index_offset,
                    ranking[row].tolist(),
                    features[row].tolist(),
                    scores[row].tolist(),
                    feature_names,
                )


def _write_csv_rows(
    writer: Any,
    index: int,
    order: list[int],
    features: list[int],
    scores: list[float],
    names: Sequence[str] | None,
) -> None:
    for rank, element in enumerate(order, start=1):
        if features[element] < 0:
            continue
        name = "" if names is None else names[element]
        score = scores[element]
        writer.writerow([index, element, features[element], name, repr(score), rank])


def heatmap_rgba(scores: Tensor, *, limit: float | None = None) -> np.ndarray:
    """Colour the scores of one input with :data:`HEATMAP_CMAP`, symmetric around 0.

    A score ``s`` maps to the colour map at ``(s / limit + 1) / 2``, clipped to
    [0, 1]: 0 is the middle (white), ``+limit`` the darkest red, ``-limit`` the
    darkest blue.

    Args:
        scores: (H, W) image scores or (L,) sequence scores (a sequence becomes one
            row).
        limit: the score shown at full colour; default the largest absolute score
            (1 if all scores are 0).

    Returns:
        (H, W, 4) float64 RGBA in [0, 1] ((1, L, 4) for a sequence).
    """
    from matplotlib import colormaps

    values = _plane(scores, "scores").numpy()
    if limit is None:
        peak = float(np.abs(values).max()) if values.size else 0.0
        limit = peak if peak > 0 else 1.0
    elif not limit > 0:
        raise InvalidInputError(f"limit must be a positive number; got {limit!r}")
    position = np.clip((values / limit + 1.0) / 2.0, 0.0, 1.0)
    return np.asarray(colormaps[HEATMAP_CMAP](position), dtype=np.float64)


def save_heatmap(
    explanation: Explanation,
    path: str | os.PathLike[str],
    *,
    index: int = 0,
    inputs: Tensor | None = None,
    title: str | None = None,
    dpi: int = 100,
) -> None:
    """Write the scores of one explained image or sequence as a PNG, atomically.

    Images: the scores as a heatmap, beside the input image (grayscale, the mean
    over channels) when ``inputs`` is given. Sequences: the scores of the feature
    positions (the explained window, or the whole sequence without a feature map)
    as one coloured row, labelled with the token values when ``inputs`` is given;
    the explained position is framed in black.

    Args:
        explanation: an explanation of (B, H, W) or (B, C, H, W) images (scores
            averaged over channels) or of (B, L) sequences.
        path: the PNG file.
        index: which explained input, 0 <= index < B.
        inputs: (B, *input_shape) the explained inputs, to draw beside the scores.
        title: the figure's title; default the method and the target.
        dpi: resolution of the PNG.

    Raises:
        InvalidInputError: tabular explanations ((B, p) scores of a model that is
            not a sequence labeller) have no heatmap; a bad ``index`` or ``inputs``.
    """
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    kind = _heatmap_kind(explanation)
    if isinstance(index, bool) or not isinstance(index, int):
        raise InvalidInputError(f"index must be an integer; got {index!r}")
    if not 0 <= index < explanation.batch_size:
        raise InvalidInputError(
            f"index must be in [0, {explanation.batch_size}); got {index}"
        )
    if inputs is not None and tuple(inputs.shape) != tuple(explanation.scores.shape):
        raise InvalidInputError(
            f"inputs have shape {tuple(inputs.shape)}; expected the explanation's "
            f"shape {tuple(explanation.scores.shape)}"
        )
    figure = Figure(figsize=(8, 3.5) if kind == "image" else (10, 2.2))
    FigureCanvasAgg(figure)
    label = title or _default_title(explanation, index)
    if kind == "image":
        _draw_image(figure, explanation, index, inputs, label)
    else:
        _draw_sequence(figure, explanation, index, inputs, label)
    with atomic_path(path) as tmp:
        figure.savefig(tmp, format="png", dpi=dpi)


def _heatmap_kind(explanation: Explanation) -> str:
    shape = explanation.input_shape
    if len(shape) in (2, 3):
        return "image"
    if len(shape) == 1 and explanation.options.get("sampler") == "sequence":
        return "sequence"
    raise InvalidInputError(
        f"heatmaps are drawn for images and sequences; this explanation has inputs "
        f"of shape {shape} and sampler {explanation.options.get('sampler')!r}"
    )


def _plane(values: Tensor, name: str) -> Tensor:
    """(H, W) or (L,) -> a 2-D float64 CPU plane; (C, H, W) -> mean over C."""
    plane = values.detach().to(torch.float64).cpu()
    if plane.dim() == 1:
        return plane[None, :]
    if plane.dim() == 3:
        return plane.mean(0)
    if plane.dim() == 2:
        return plane
    raise InvalidInputError(
        f"{name} must be (L,), (H, W) or (C, H, W); got shape {tuple(plane.shape)}"
    )


def _default_title(explanation: Explanation, index: int) -> str:
    target = explanation.target[index].tolist()
    return f"{explanation.method}: input {index}, target {target}"


def _draw_image(
    figure: Any,
    explanation: Explanation,
    index: int,
    inputs: Tensor | None,
    title: str,
) -> None:
    scores = _plane(explanation.scores[index], "scores")
    limit = float(scores.abs().max()) or 1.0
    axes = figure.subplots(1, 2 if inputs is not None else 1, squeeze=False)[0]
    if inputs is not None:
        axes[0].imshow(_plane(inputs[index], "inputs").numpy(), cmap="gray")
        axes[0].set_title("input")
        axes[0].set_axis_off()
    shown = axes[-1].imshow(scores.numpy(), cmap=HEATMAP_CMAP, vmin=-limit, vmax=limit)
    axes[-1].set_title("scores")
    axes[-1].set_axis_off()
    figure.colorbar(shown, ax=axes[-1], fraction=0.046)
    figure.suptitle(title)


def _draw_sequence(
    figure: Any,
    explanation: Explanation,
    index: int,
    inputs: Tensor | None,
    title: str,
) -> None:
    scores = explanation.scores[index].detach().to(torch.float64).cpu()
    positions = torch.arange(scores.shape[0])
    if explanation.feature_map is not None:
        inside = explanation.feature_map[index].cpu() >= 0
        if bool(inside.any()):
            positions = positions[inside]
    shown_scores = scores[positions]
    limit = float(shown_scores.abs().max()) or 1.0
    axis = figure.subplots()
    image = axis.imshow(
        shown_scores[None, :].numpy(),
        cmap=HEATMAP_CMAP,
        vmin=-limit,
        vmax=limit,
        aspect="auto",
    )
    axis.set_yticks([])
    step = max(1, len(positions) // 20)
    ticks = list(range(0, len(positions), step))
    axis.set_xticks(ticks)
    axis.set_xticklabels([str(int(positions[t])) for t in ticks], fontsize=7)
    axis.set_xlabel("position")
    if inputs is not None and len(positions) <= 64:
        tokens = inputs[index].detach().cpu()[positions].tolist()
        for column, token in enumerate(tokens):
            axis.text(column, 0, str(int(token)), ha="center", va="center", size=5)
    target = explanation.target[index].reshape(-1).tolist()
    if len(target) == 2 and target[0] in positions.tolist():
        column = positions.tolist().index(target[0])
        axis.axvline(column - 0.5, color="black", linewidth=1.5)
        axis.axvline(column + 0.5, color="black", linewidth=1.5)
    figure.colorbar(image, ax=axis, fraction=0.03)
    axis.set_title(title)
