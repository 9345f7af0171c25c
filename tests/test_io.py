"""torchxai.io: atomic writes, JSON/CSV exports checked against independent readers,
heatmap colours against the colour map, PNGs read back."""

from __future__ import annotations

import csv
import json
import math
from pathlib import Path

import numpy as np
import pytest
import torch
from matplotlib import colormaps
from matplotlib.image import imread

from torchxai.errors import InvalidInputError
from torchxai.explanation import Explanation
from torchxai.io import (
    CSV_COLUMNS,
    HEATMAP_CMAP,
    atomic_path,
    heatmap_rgba,
    save_explanation_csv,
    save_explanation_json,
    save_heatmap,
    torch_save,
    write_json,
)


def tabular_explanation() -> Explanation:
    scores = torch.tensor([[0.5, -1.0, 2.0, 0.0], [0.0, 3.0, 3.0, -2.0]])
    return Explanation(
        scores=scores,
        method="test",
        target=torch.tensor([1, 0]),
        fit_rmse=torch.tensor([0.25, math.nan]),
        options={"sampler": "tabular"},
        feature_map=torch.tensor([[0, 1, 2, 3], [0, 1, -1, 2]]),
    )


def sequence_explanation() -> Explanation:
    scores = torch.zeros(2, 12)
    scores[:, 4:8] = torch.tensor([[0.1, -0.4, 0.9, 0.0], [0.3, 0.2, -0.1, 0.5]])
    feature_map = torch.full((2, 12), -1)
    feature_map[:, 4:8] = torch.arange(4)
    return Explanation(
        scores=scores,
        method="test",
        target=torch.tensor([[6, 1], [5, 1]]),
        fit_rmse=torch.tensor([0.1, 0.2]),
        options={"sampler": "sequence"},
        feature_map=feature_map,
    )


def leftovers(folder: Path) -> list[Path]:
    return [p for p in folder.iterdir() if p.name.endswith(".tmp")]


# --- atomic writes -----------------------------------------------------------------


def test_atomic_path_keeps_the_old_file_when_the_block_fails(tmp_path: Path) -> None:
    target = tmp_path / "out.txt"
    target.write_text("old")
    with pytest.raises(RuntimeError, match="boom"):
        with atomic_path(target) as tmp:
            tmp.write_text("half")
            raise RuntimeError("boom")
    assert target.read_text() == "old"
    assert leftovers(tmp_path) == []

    with atomic_path(tmp_path / "new" / "out.txt") as tmp:
        tmp.write_text("new")
    assert (tmp_path / "new" / "out.txt").read_text() == "new"
    assert leftovers(tmp_path / "new") == []


def test_write_json_converts_tensors_arrays_and_paths(tmp_path: Path) -> None:
    record = {
        "t": torch.tensor([[1.5, 2.0]]),
        "a": np.arange(3),
        "s": np.float32(0.5),
        "p": tmp_path,
    }
    write_json(tmp_path / "r.json", record)
    assert json.loads((tmp_path / "r.json").read_text()) == {
        "t": [[1.5, 2.0]],
        "a": [0, 1, 2],
        "s": 0.5,
        "p": str(tmp_path),
    }
    with pytest.raises(TypeError, match="object"):
        write_json(tmp_path / "bad.json", {"x": object()})
    assert not (tmp_path / "bad.json").exists()
    assert leftovers(tmp_path) == []


def test_torch_save_round_trip(tmp_path: Path) -> None:
    value = {"x": torch.arange(5)}
    torch_save(value, tmp_path / "v.pt")
    assert torch.equal(torch.load(tmp_path / "v.pt")["x"], value["x"])


# --- JSON and CSV --------------------------------------------------------------------


def test_explanation_json_is_strict_and_matches_the_tensors(tmp_path: Path) -> None:
    explanation = tabular_explanation()
    save_explanation_json(explanation, tmp_path / "e.json", extra={"model": "m"})

    def refuse(name: str) -> None:
        raise AssertionError(f"non-strict JSON constant {name}")

    record = json.loads((tmp_path / "e.json").read_text(), parse_constant=refuse)
    assert record["model"] == "m" and record["method"] == "test"
    assert record["scores"] == explanation.scores.tolist()
    assert record["fit_rmse"] == [0.25, None]
    assert record["target"] == [1, 0]
    with pytest.raises(InvalidInputError, match="collide"):
        save_explanation_json(explanation, tmp_path / "x.json", extra={"scores": 1})


def test_explanation_csv_ranks_every_feature_element(tmp_path: Path) -> None:
    explanation = tabular_explanation()
    names = ["a", "b", "c", "d"]
    save_explanation_csv(
        explanation, tmp_path / "e.csv", feature_names=names, index_offset=10
    )
    with open(tmp_path / "e.csv", newline="") as stream:
        rows = list(csv.reader(stream))
    assert tuple(rows[0]) == CSV_COLUMNS
    body = rows[1:]

    # independent reference: per input, elements with feature >= 0 by descending
    # score, ties in element order; ranks count every element of the ranking
    scores = explanation.scores.numpy()
    fmap = explanation.feature_map.numpy()
    expected = []
    for b in range(2):
        masked = np.where(fmap[b] >= 0, scores[b], -np.inf)
        order = sorted(range(4), key=lambda e: (-masked[e], e))
        for rank, element in enumerate(order, start=1):
            if fmap[b, element] >= 0:
                expected.append(
                    [b + 10, element, fmap[b, element], names[element], rank]
                )
    got = [[int(r[0]), int(r[1]), int(r[2]), r[3], int(r[5])] for r in body]
    assert got == expected
    got_scores = [float(r[4]) for r in body]
    want_scores = [float(scores[b - 10, e]) for b, e, *_ in expected]
    assert got_scores == want_scores


def test_explanation_csv_without_feature_map_or_names(tmp_path: Path) -> None:
    explanation = Explanation(
        scores=torch.tensor([[0.0, 2.0, 1.0]]),
        method="m",
        target=torch.tensor([0]),
        fit_rmse=torch.tensor([0.0]),
    )
    save_explanation_csv(explanation, tmp_path / "e.csv")
    with open(tmp_path / "e.csv", newline="") as stream:
        body = list(csv.reader(stream))[1:]
    assert [(r[1], r[3], r[5]) for r in body] == [
        ("1", "", "1"),
        ("2", "", "2"),
        ("0", "", "3"),
    ]
    with pytest.raises(InvalidInputError, match="feature_names has 2 names"):
        save_explanation_csv(explanation, tmp_path / "f.csv", feature_names=["a", "b"])


# --- heatmaps ------------------------------------------------------------------------


def test_heatmap_colours_are_symmetric_around_zero() -> None:
    cmap = colormaps[HEATMAP_CMAP]
    scores = torch.tensor([[0.0, 2.0], [-2.0, 1.0]])
    rgba = heatmap_rgba(scores)
    assert rgba.shape == (2, 2, 4)
    np.testing.assert_allclose(rgba[0, 0], cmap(0.5))
    np.testing.assert_allclose(rgba[0, 1], cmap(1.0))
    np.testing.assert_allclose(rgba[1, 0], cmap(0.0))
    np.testing.assert_allclose(rgba[1, 1], cmap(0.75))

    clipped = heatmap_rgba(torch.tensor([5.0, -0.5]), limit=1.0)
    assert clipped.shape == (1, 2, 4)
    np.testing.assert_allclose(clipped[0, 0], cmap(1.0))
    np.testing.assert_allclose(clipped[0, 1], cmap(0.25))

    flat = heatmap_rgba(torch.zeros(3, 3))  # degenerate: all scores 0
    np.testing.assert_allclose(flat, np.broadcast_to(cmap(0.5), (3, 3, 4)))
    with pytest.raises(InvalidInputError, match="limit"):
        heatmap_rgba(scores, limit=0.0)


def test_image_heatmap_png(tmp_path: Path) -> None:
    scores = torch.zeros(2, 8, 8)
    scores[0, 2:4, 2:4] = 1.0
    explanation = Explanation(
        scores=scores,
        method="m",
        target=torch.tensor([3, 1]),
        fit_rmse=torch.zeros(2),
        options={"sampler": "image"},
    )
    path = tmp_path / "maps" / "img.png"
    save_heatmap(explanation, path, index=0, inputs=torch.rand(2, 8, 8))
    image = imread(path)
    assert image.ndim == 3 and image.shape[2] in (3, 4)
    assert image.shape[0] > 100 and image.std() > 0
    assert leftovers(path.parent) == []

    with pytest.raises(InvalidInputError, match="index"):
        save_heatmap(explanation, tmp_path / "x.png", index=2)
    with pytest.raises(InvalidInputError, match="inputs have shape"):
        save_heatmap(explanation, tmp_path / "x.png", inputs=torch.rand(1, 8, 8))
    assert not (tmp_path / "x.png").exists()


def test_sequence_heatmap_png_and_tabular_refusal(tmp_path: Path) -> None:
    explanation = sequence_explanation()
    tokens = torch.randint(0, 257, (2, 12))
    save_heatmap(explanation, tmp_path / "seq.png", index=1, inputs=tokens)
    assert imread(tmp_path / "seq.png").std() > 0
    with pytest.raises(InvalidInputError, match="heatmaps are drawn for images"):
        save_heatmap(tabular_explanation(), tmp_path / "tab.png")
    assert not (tmp_path / "tab.png").exists()
