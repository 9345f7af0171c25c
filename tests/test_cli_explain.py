"""``torchxai explain``, ``fidelity``, ``reproduce`` and ``bench``: results checked
against direct library calls and independent computations, the resume of an
interrupted run, and the error paths (exit code 2, one line)."""

from __future__ import annotations

import csv
import json
from pathlib import Path

import pytest
import torch

import torchxai
from torchxai import cli
from torchxai.cli import main
from torchxai.explanation import Explanation
from torchxai.fidelity import fidelity_table
from torchxai.testing import PlantedTabularModel

FACTORY = "torchxai.testing:PlantedTabularModel"  # 20 features, 4 relevant


def planted_inputs(path: Path, n: int = 7, zeros: int = 0) -> torch.Tensor:
    x = PlantedTabularModel().sample(n, seed=2).inputs
    x = torch.cat([x, torch.zeros(zeros, x.shape[1])])
    torch.save(x, path)
    return x


def explain_argv(inputs: Path, out: Path, *extra: str) -> list[str]:
    argv = ["explain", "--model", FACTORY, "--inputs", str(inputs), "--out", str(out)]
    argv += ["--method", "lime", "--n-samples", "60", "--chunk-size", "3"]
    return argv + list(extra)


def assert_one_error_line(stderr: str, *fragments: str) -> None:
    lines = stderr.strip().splitlines()
    assert len(lines) == 1 and "Traceback" not in stderr, stderr
    for fragment in fragments:
        assert fragment in lines[0], lines[0]


def assert_same(a: Explanation, b: Explanation) -> None:
    assert (a.method, a.seed, a.options) == (b.method, b.seed, b.options)
    for name in ("scores", "target", "feature_map", "coefficients", "fit_rmse"):
        torch.testing.assert_close(getattr(a, name), getattr(b, name), equal_nan=True)


# --- explain ---------------------------------------------------------------------


def test_interrupted_explain_resumes_to_the_uninterrupted_result(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    x = planted_inputs(tmp_path / "x.pt")
    out = tmp_path / "run"
    assert main(explain_argv(tmp_path / "x.pt", out, "--max-chunks", "1")) == 0
    assert "run the same command again to resume" in capsys.readouterr().out
    assert [p.name for p in (out / "parts").iterdir()] == ["part-00000.pt"]
    assert not (out / "explanation.pt").exists()

    argv = explain_argv(tmp_path / "x.pt", out, "--format", "json,csv")
    assert main(argv) == 0
    printed = capsys.readouterr().out
    assert "explained 7 input(s)" in printed and "explanation.csv" in printed
    assert len(list((out / "parts").iterdir())) == 3
    resumed = Explanation.load(out / "explanation.pt")

    fresh = tmp_path / "fresh"
    assert main(explain_argv(tmp_path / "x.pt", fresh, "--chunk-size", "7")) == 0
    assert_same(resumed, Explanation.load(fresh / "explanation.pt"))
    direct = torchxai.explain(
        PlantedTabularModel(), x, "lime", output="logits", n_samples=60, seed=0,
        batch_size=1024,
    )  # fmt: skip
    assert_same(resumed, direct)

    record = json.loads((out / "explanation.json").read_text())
    torch.testing.assert_close(torch.tensor(record["scores"]), direct.scores)
    assert record["model"] == FACTORY and record["first_row"] == 0
    with open(out / "explanation.csv", newline="") as stream:
        rows = list(csv.DictReader(stream))
    assert len(rows) == 7 * 20
    first = [r for r in rows if r["input"] == "0" and r["rank"] == "1"][0]
    assert int(first["element"]) == int(direct.scores[0].argmax())
    assert not (out / "heatmaps").exists()  # tabular: no heatmaps


def test_explain_a_builtin_model_on_a_dataset_slice(
    tmp_path: Path, data_root: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    from torchxai.datasets import binarize, load_contagio, train_test_split
    from torchxai.models import load_pdf_mlp

    out = tmp_path / "mlp"
    argv = ["explain", "--model", "pdf_mlp", "--start", "2", "--stop", "6"]
    argv += ["--method", "random", "--out", str(out), "--format", "csv"]
    assert main(argv + ["--data-dir", str(data_root)]) == 0
    assert (
        "explained 4 input(s) of contagio/test(seed=0)[2:6]" in capsys.readouterr().out
    )
    explanation = Explanation.load(out / "explanation.pt")

    data = load_contagio(data_root)
    test = train_test_split(data, test_fraction=0.2, seed=0)[1]
    rows = binarize(test.features[2:6])
    with torch.no_grad():
        predicted = load_pdf_mlp(data_root)(rows).argmax(-1)
    assert explanation.target.tolist() == predicted.tolist()
    with open(out / "explanation.csv", newline="") as stream:
        records = list(csv.DictReader(stream))
    assert {r["input"] for r in records} == {"2", "3", "4", "5"}
    for r in records[:5]:
        assert r["name"] == data.feature_names[int(r["element"])]


def test_images_and_sequences_get_heatmaps(tmp_path: Path, data_root: Path) -> None:
    from torchxai.datasets import (
        list_byteweight_binaries,
        load_function_start_windows,
        split_binaries,
    )
    from torchxai.models import load_function_start_rnn

    cnn = tmp_path / "cnn"
    argv = ["explain", "--model", "fashion_cnn", "--stop", "2", "--method", "random"]
    assert main(argv + ["--out", str(cnn), "--heatmaps", "1"]) == 0
    assert [p.name for p in (cnn / "heatmaps").iterdir()] == ["input-00000.png"]

    rnn = tmp_path / "rnn"
    argv = ["explain", "--model", "function_start_rnn", "--max-binaries", "1"]
    argv += ["--stop", "3", "--method", "random", "--out", str(rnn)]
    assert main(argv) == 0
    assert len(list((rnn / "heatmaps").iterdir())) == 3
    explanation = Explanation.load(rnn / "explanation.pt")

    # the default target: the first non-padding position predicted a start
    test_paths = split_binaries(list_byteweight_binaries(data_root), 0.3, 0)[1]
    tokens = load_function_start_windows(test_paths[:1]).tokens[:3]
    with torch.no_grad():
        predicted = load_function_start_rnn(data_root)(tokens).argmax(-1)
    for row, (position, cls) in enumerate(explanation.target.tolist()):
        starts = [
            p for p in range(tokens.shape[1])
            if predicted[row, p] == 1 and tokens[row, p] != 0
        ]  # fmt: skip
        assert position == (starts[0] if starts else 0)
        assert cls == int(predicted[row, position])


def test_explain_errors_exit_2_with_one_line(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    planted_inputs(tmp_path / "x.pt", n=3)
    inputs = tmp_path / "x.pt"
    assert main(explain_argv(inputs, tmp_path / "a", "--method", "nope")) == 2
    assert_one_error_line(capsys.readouterr().err, "explain: error", "'nope'")

    assert main(explain_argv(inputs, tmp_path / "b", "--option", "lam1")) == 2
    assert_one_error_line(capsys.readouterr().err, "--option 'lam1'", "KEY=VALUE")

    assert main(explain_argv(inputs, tmp_path / "c", "--option", "bogus=1")) == 2
    assert_one_error_line(capsys.readouterr().err, "unknown option bogus")

    assert main(explain_argv(inputs, tmp_path / "d", "--target", "x")) == 2
    assert_one_error_line(capsys.readouterr().err, "--target 'x'", "a class index")

    assert main(["explain", "--model", FACTORY, "--out", str(tmp_path / "e")]) == 2
    assert_one_error_line(capsys.readouterr().err, "--inputs FILE or --dataset")

    assert main(explain_argv(inputs, tmp_path / "f", "--model", "no/such.pt")) == 2
    assert_one_error_line(capsys.readouterr().err, "'no/such.pt'")

    assert main(explain_argv(inputs, tmp_path / "g")) == 0
    capsys.readouterr()
    assert main(explain_argv(inputs, tmp_path / "g", "--n-samples", "70")) == 2
    assert_one_error_line(capsys.readouterr().err, "another run", "options")


# --- fidelity --------------------------------------------------------------------


def test_fidelity_command_matches_the_library(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    x = planted_inputs(tmp_path / "x.pt", n=8, zeros=4)
    out = tmp_path / "fid"
    argv = ["fidelity", "--model", FACTORY, "--inputs", str(tmp_path / "x.pt")]
    argv += ["--methods", "lime,random", "--ks", "2,4", "--class", "1"]
    argv += ["--n-samples", "60", "--out", str(out)]
    assert main(argv) == 0
    printed = capsys.readouterr().out
    assert "deduction" in printed and "augmentation" in printed and "lime" in printed

    record = json.loads((out / "fidelity.json").read_text())
    model = PlantedTabularModel()
    assert record["rows"] == list(range(8))  # the 8 planted inputs are class 1
    donors = torch.zeros(8, 20)  # every candidate donor is an all-zero row
    for method in ("lime", "random"):
        explanation = Explanation.load(out / method / "explanation.pt")
        assert explanation.batch_size == 8
        table = fidelity_table(model, x[:8], explanation, [2, 4], donors=donors, seed=0)
        got = {(r["test"], r["k"]): r for r in record["methods"][method]["rows"]}
        for row in table.to_dict():
            mine = got[(row["test"], row["k"])]
            assert mine["pcr"] == pytest.approx(row["pcr"]), (method, row)
            assert mine["pcr_reference"] == pytest.approx(row["pcr_reference"])

    # the planted model decides on 4 columns: LIME's top 4 removes the decision
    lime = {(r["test"], r["k"]): r for r in record["methods"]["lime"]["rows"]}
    assert lime[("deduction", 4)]["pcr"] < lime[("deduction", 4)]["pcr_random"]


# --- reproduce and bench -----------------------------------------------------------


def fake_checkout(root: Path, script: str) -> Path:
    """A source tree whose script records the argv its main was given."""
    folder = root / script.split("/")[0]
    folder.mkdir(parents=True)
    log = root / "argv.json"
    (root / script).write_text(
        "import json, pathlib\n"
        "def main(argv):\n"
        f"    pathlib.Path({str(log)!r}).write_text(json.dumps(argv))\n"
        "    return 0\n"
    )
    return log


def test_reproduce_forwards_the_global_options(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(cli, "SOURCE_ROOT", tmp_path)
    log = fake_checkout(tmp_path, "scripts/reproduce_lemna.py")
    assert main(["--seed", "5", "reproduce", "lemna", "--n-inputs", "3"]) == 0
    assert json.loads(log.read_text()) == ["--n-inputs", "3", "--seed", "5"]

    assert main(["reproduce", "lemna", "--seed", "7", "--device", "cpu"]) == 0
    assert json.loads(log.read_text()) == ["--seed", "7", "--device", "cpu"]


def test_reproduce_patching_and_a_missing_script(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setattr(cli, "SOURCE_ROOT", tmp_path)
    log = fake_checkout(tmp_path, "scripts/patch_rnn.py")
    argv = ["reproduce", "--batch-size", "8", "patching", "--", "--epochs", "1"]
    assert main(argv) == 0
    assert json.loads(log.read_text()) == [
        "--epochs", "1", "--seed", "0", "--batch-size", "8",
    ]  # fmt: skip
    assert main(["reproduce", "dmm"]) == 2
    assert_one_error_line(capsys.readouterr().err, "reproduce_dmm.py not found")


def test_bench_lists_and_runs_through_run_all(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["bench", "--list"]) == 0
    listed = capsys.readouterr().out
    assert "bench_explain.py" in listed and "solvers" in listed

    monkeypatch.setattr(cli, "SOURCE_ROOT", tmp_path)
    log = fake_checkout(tmp_path, "benchmarks/run_all.py")
    argv = ["--seed", "2", "bench", "--smoke", "--only", "explain"]
    assert main(argv + ["--out-dir", str(tmp_path / "b"), "--no-progress"]) == 0
    assert json.loads(log.read_text()) == [
        "--out-dir", str(tmp_path / "b"), "--seed", "2", "--only", "explain",
        "--smoke",
    ]  # fmt: skip


def test_reproduce_passes_help_to_the_script(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setattr(cli, "SOURCE_ROOT", tmp_path)
    (tmp_path / "scripts").mkdir()
    (tmp_path / "scripts" / "reproduce_dmm_men.py").write_text(
        "import argparse\n"
        "def main(argv):\n"
        "    parser = argparse.ArgumentParser(prog='reproduce_dmm_men')\n"
        "    parser.add_argument('--n-pixels', type=int)\n"
        "    parser.parse_args(argv)\n"
    )
    assert main(["reproduce", "dmm-men", "--help"]) == 0
    assert "--n-pixels" in capsys.readouterr().out
    assert main(["reproduce", "dmm-men", "--n-pixels", "x"]) == 2
    assert "invalid int value" in capsys.readouterr().err
