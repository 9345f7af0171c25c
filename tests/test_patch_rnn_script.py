"""Smoke run of scripts/patch_rnn.py with tiny sizes, and its output checks."""

from __future__ import annotations

import importlib.util
import json
import shutil
import sys
from pathlib import Path
from types import ModuleType

import pytest
import torch

from torchxai.models import FunctionStartRNN, load_function_start_rnn
from torchxai.patching import count_errors, predict_classes

SCRIPT = Path(__file__).resolve().parents[1] / "scripts" / "patch_rnn.py"


def load_script() -> ModuleType:
    spec = importlib.util.spec_from_file_location("patch_rnn", SCRIPT)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules["patch_rnn"] = module
    spec.loader.exec_module(module)
    return module


TINY = [
    "--max-binaries", "2", "--max-train-windows", "40", "--max-test-windows", "300",
    "--max-errors", "3", "--epochs", "1", "--n-samples", "60", "--n-components", "1",
    "--em-iter", "3", "--device", "cpu",
]  # fmt: skip


# the solver may stop short on a tiny LEMNA run; that is not what is tested here
@pytest.mark.filterwarnings("ignore::torchxai.errors.ConvergenceWarning")
def test_smoke_run_saves_weights_and_report(
    tmp_path: Path, data_root: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    out, report_path = tmp_path / "patched.pt", tmp_path / "report.json"
    h5 = data_root / "keras" / "O1_Bi_Rnn.h5"
    h5_bytes = h5.read_bytes()
    args = ["--data-dir", str(data_root), *TINY, "--out-weights", str(out)]
    assert load_script().main([*args, "--report-json", str(report_path)]) == 0

    printed = capsys.readouterr().out
    assert "seed's figures" in printed and "patched (lemna)" in printed
    assert h5.read_bytes() == h5_bytes  # the input weights are only read

    model = FunctionStartRNN()
    model.load_state_dict(torch.load(out, weights_only=True))
    report = json.loads(report_path.read_text())
    comparison = report["comparison"]
    assert comparison["patched"]["explainer"] == "lemna"
    assert comparison["control"]["explainer"] == "random"
    assert comparison["patched"]["crafted"] == comparison["control"]["crafted"]
    found = comparison["patched"]["errors_found"]
    assert found["fp"] == comparison["before"]["fp"]
    assert found["fn"] == comparison["before"]["fn"]
    assert sum(comparison["patched"]["errors_explained"].values()) == min(
        3, found["fp"] + found["fn"]
    )
    assert (
        len(report["binaries"]["train"]) == 1 and len(report["binaries"]["test"]) == 1
    )

    # the saved weights give the "after" counts of the report on the same windows
    from torchxai.datasets import load_function_start_windows

    folder = data_root / "byteweight_elf_x86_32_gcc_O1" / "elf"
    test_paths = [next(folder.glob(f"*/{name}")) for name in report["binaries"]["test"]]
    test = load_script().subsample(load_function_start_windows(test_paths), 300, 0)
    model.eval()
    after = count_errors(predict_classes(model, test.tokens), test.tokens, test.labels)
    assert after.to_dict() == comparison["patched"]["after"]
    fixed = load_function_start_rnn(data_root, fixed=True)
    fixed_counts = count_errors(
        predict_classes(fixed, test.tokens), test.tokens, test.labels
    )
    assert comparison["references"]["seed's fixed model"] == fixed_counts.to_dict()


def test_refuses_to_overwrite_inputs_and_keras_files(
    tmp_path: Path, data_root: Path
) -> None:
    script = load_script()
    base = ["--data-dir", str(data_root), *TINY]
    with pytest.raises(SystemExit, match="Keras file"):
        script.main([*base, "--out-weights", str(data_root / "keras" / "O1_Bi_Rnn.h5")])
    copy = tmp_path / "model.pt"
    shutil.copyfile(data_root / "keras" / "O1_Bi_Rnn.h5", copy)
    with pytest.raises(SystemExit, match="is the input file"):
        script.main(
            [*base, "--weights", str(copy), "--out-weights", str(copy), "--overwrite"]
        )
    existing = tmp_path / "old.pt"
    existing.write_bytes(b"keep me")
    with pytest.raises(SystemExit, match="exists; pass --overwrite"):
        script.main([*base, "--out-weights", str(existing)])
    assert existing.read_bytes() == b"keep me"
    with pytest.raises(SystemExit, match="does not exist"):
        script.main([*base, "--out-weights", str(tmp_path / "no" / "x.pt")])
