"""torchxai.distributed: chunked runs resume to the uninterrupted result, and two
gloo processes give the single-process explanation."""

from __future__ import annotations

import json
import os
import socket
from pathlib import Path

import pytest
import torch
import torch.multiprocessing as mp

import torchxai
from torchxai import distributed
from torchxai.distributed import (
    concat_explanations,
    explain_chunked,
    explain_sharded,
    shard_range,
)
from torchxai.errors import InvalidInputError
from torchxai.explanation import Explanation
from torchxai.testing import PlantedTabularModel

OPTIONS = {"output": "logits", "n_samples": 60, "seed": 3}


def toy_model(device: torch.device | str = "cpu") -> PlantedTabularModel:
    return PlantedTabularModel(10, relevant=(1, 4, 7)).to(device)


def toy_inputs(n: int = 7) -> torch.Tensor:
    return toy_model().sample(n, seed=1).inputs


def assert_same(a: Explanation, b: Explanation) -> None:
    assert a.method == b.method and a.seed == b.seed and a.options == b.options
    for name in ("scores", "target", "feature_map", "coefficients", "intercepts"):
        left, right = getattr(a, name), getattr(b, name)
        assert (left is None) == (right is None), name
        if left is not None:
            torch.testing.assert_close(left.cpu(), right.cpu(), msg=name)
    torch.testing.assert_close(a.fit_rmse, b.fit_rmse, equal_nan=True)


# --- merging -------------------------------------------------------------------------


def test_concat_of_parts_equals_one_batch() -> None:
    model, x = toy_model(), toy_inputs()
    whole = torchxai.explain(model, x, "lime", **OPTIONS)
    parts = [
        torchxai.explain(model, x[i : i + 3], "lime", **OPTIONS) for i in (0, 3, 6)
    ]
    assert_same(concat_explanations(parts), whole)


def test_concat_pads_feature_scores_and_checks_parts() -> None:
    def part(p: int, method: str = "m") -> Explanation:
        return Explanation(
            scores=torch.ones(1, 4),
            method=method,
            target=torch.tensor([0]),
            fit_rmse=torch.zeros(1),
            feature_scores=torch.arange(1, p + 1, dtype=torch.float32)[None],
            coefficients=torch.ones(1, 2, p),
        )

    merged = concat_explanations([part(2), part(3)])
    assert merged.feature_scores.tolist() == [[1.0, 2.0, 0.0], [1.0, 2.0, 3.0]]
    assert merged.coefficients[0, :, 2].tolist() == [0.0, 0.0]
    with pytest.raises(InvalidInputError, match="method 'other'"):
        concat_explanations([part(2), part(2, "other")])
    with pytest.raises(InvalidInputError, match="no explanations"):
        concat_explanations([])
    bare = Explanation(torch.ones(1, 4), "m", torch.tensor([0]), torch.zeros(1))
    with pytest.raises(InvalidInputError, match="feature_scores is set in some"):
        concat_explanations([part(2), bare])


def test_shard_ranges_cover_the_items_evenly() -> None:
    for n_items in range(0, 12):
        for world in range(1, 5):
            ranges = [shard_range(n_items, r, world) for r in range(world)]
            flat = [i for r in ranges for i in r]
            assert flat == list(range(n_items))
            lengths = [len(r) for r in ranges]
            assert max(lengths) - min(lengths) <= 1
    with pytest.raises(InvalidInputError, match="rank 2"):
        shard_range(4, 2, 2)


# --- one process ---------------------------------------------------------------------


def test_interrupted_chunked_run_resumes_to_the_uninterrupted_result(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    model, x = toy_model(), toy_inputs()
    target = torch.tensor([1, 0, 1, 1, 0, 1, 0])
    reference = torchxai.explain(model, x, "lime", target=target, **OPTIONS)

    calls: list[int] = []
    real_explain = distributed.explain

    def counting(*args: object, **kwargs: object) -> Explanation:
        calls.append(len(args[1]))  # type: ignore[arg-type]
        return real_explain(*args, **kwargs)  # type: ignore[arg-type]

    monkeypatch.setattr(distributed, "explain", counting)
    out = tmp_path / "run"
    first = explain_chunked(
        model, x, "lime", out, target=target, chunk_size=3, max_chunks=1, **OPTIONS
    )
    assert first is None and calls == [3]
    assert sorted(p.name for p in (out / "parts").iterdir()) == ["part-00000.pt"]
    assert not (out / "explanation.pt").exists()

    resumed = explain_chunked(
        model, x, "lime", out, target=target, chunk_size=3, **OPTIONS
    )
    assert calls == [3, 3, 1]  # the finished chunk was not explained again
    assert resumed is not None
    assert_same(resumed, reference)
    assert_same(Explanation.load(out / "explanation.pt"), reference)

    again = explain_chunked(
        model, x, "lime", out, target=target, chunk_size=3, **OPTIONS
    )
    assert calls == [3, 3, 1] and again is not None  # read back, nothing explained
    assert_same(again, reference)
    manifest = json.loads((out / "manifest.json").read_text())
    assert manifest["n_inputs"] == 7 and manifest["chunk_size"] == 3


def test_a_folder_of_another_run_is_refused(tmp_path: Path) -> None:
    model, x = toy_model(), toy_inputs(4)
    explain_chunked(model, x, "random", tmp_path, chunk_size=2, **OPTIONS)
    with pytest.raises(InvalidInputError, match="differing: inputs_sha256"):
        explain_chunked(model, x + 0.5, "random", tmp_path, chunk_size=2, **OPTIONS)
    with pytest.raises(InvalidInputError, match="differing: options"):
        explain_chunked(
            model, x, "random", tmp_path, chunk_size=2, **{**OPTIONS, "seed": 4}
        )
    other = PlantedTabularModel(10, relevant=(0, 2))
    with pytest.raises(InvalidInputError, match="model_sha256"):
        explain_chunked(other, x, "random", tmp_path, chunk_size=2, **OPTIONS)


def test_bad_arguments(tmp_path: Path) -> None:
    model, x = toy_model(), toy_inputs(4)
    with pytest.raises(InvalidInputError, match="chunk_size must be at least 1"):
        explain_chunked(model, x, "random", tmp_path, chunk_size=0)
    with pytest.raises(InvalidInputError, match="non-empty batch"):
        explain_chunked(model, x[:0], "random", tmp_path)
    with pytest.raises(InvalidInputError, match="max_chunks"):
        explain_chunked(model, x, "random", tmp_path, max_chunks=-1)
    with pytest.raises(InvalidInputError, match="fits one global model"):
        explain_chunked(model, x, "dmm", tmp_path, chunk_size=2)
    with pytest.raises(InvalidInputError, match="target tensor has 3 rows"):
        explain_chunked(
            model, x, "random", tmp_path / "t", target=torch.tensor([0, 1, 1])
        )


def test_sharded_without_a_process_group_runs_alone(tmp_path: Path) -> None:
    model, x = toy_model(), toy_inputs(5)
    result = explain_sharded(toy_model, x, "lime", tmp_path, chunk_size=2, **OPTIONS)
    assert result is not None
    assert_same(result, torchxai.explain(model, x, "lime", **OPTIONS))
    assert (tmp_path / "rank-0.pt").is_file()


# --- two processes on gloo -----------------------------------------------------------


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _worker(rank: int, world: int, ports: tuple[int, int], folder: str) -> None:
    """One rank: explain_sharded, then ``torchxai explain`` as under torchrun."""
    from torchxai.cli import main

    os.environ.update(
        MASTER_ADDR="127.0.0.1",
        MASTER_PORT=str(ports[0]),
        RANK=str(rank),
        WORLD_SIZE=str(world),
        LOCAL_RANK=str(rank),
    )
    torch.set_num_threads(1)
    out = Path(folder) / "api"
    result = explain_sharded(
        toy_model, toy_inputs(), "lime", out, backend="gloo", chunk_size=2, **OPTIONS
    )
    (out / f"returned-{rank}.txt").write_text(
        "none" if result is None else str(result.batch_size)
    )
    os.environ["MASTER_PORT"] = str(ports[1])
    argv = ["explain", "--model", "test_distributed:toy_model", "--inputs"]
    argv += [str(Path(folder) / "x.pt"), "--method", "lime", "--n-samples", "60"]
    argv += ["--seed", "3", "--chunk-size", "3", "--heatmaps", "0"]
    argv += ["--out", str(Path(folder) / "cli"), "--format", "csv"]
    status = main(argv)
    (Path(folder) / f"cli-{rank}.txt").write_text(str(status))


def test_two_gloo_processes_match_one_process(tmp_path: Path) -> None:
    reference = torchxai.explain(toy_model(), toy_inputs(), "lime", **OPTIONS)
    torch.save(toy_inputs(), tmp_path / "x.pt")

    # a run stopped after its first chunk in one process: 4 chunks of 2 inputs
    out = tmp_path / "api"
    stopped = explain_sharded(
        toy_model, toy_inputs(), "lime", out, chunk_size=2, max_chunks=1, **OPTIONS
    )
    assert stopped is None and len(list((out / "parts").iterdir())) == 1

    # resumed by two gloo processes: rank 0 has chunks 0-1 (0 done), rank 1 2-3
    ports = (_free_port(), _free_port())
    mp.spawn(_worker, args=(2, ports, str(tmp_path)), nprocs=2, join=True)
    assert [(out / f"returned-{r}.txt").read_text() for r in (0, 1)] == ["7"] * 2
    assert Explanation.load(out / "rank-0.pt").batch_size == 4
    assert Explanation.load(out / "rank-1.pt").batch_size == 3
    assert_same(Explanation.load(out / "explanation.pt"), reference)

    # the command line under the same two ranks: one merged file, rank 0 exports
    assert [(tmp_path / f"cli-{r}.txt").read_text() for r in (0, 1)] == ["0", "0"]
    merged = Explanation.load(tmp_path / "cli" / "explanation.pt")
    torch.testing.assert_close(merged.scores, reference.scores)
    assert merged.options["batch_size"] == 1024
    assert (tmp_path / "cli" / "explanation.csv").is_file()
    assert sorted(p.name for p in (tmp_path / "cli").glob("rank-*.pt")) == [
        "rank-0.pt",
        "rank-1.pt",
    ]
