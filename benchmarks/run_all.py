"""Run every benchmark of this folder, one after the other, in this process.

Usage::

    python benchmarks/run_all.py --out-dir results/bench         # full sizes
    python benchmarks/run_all.py --smoke --out-dir smoke          # tiny sizes
    torchxai bench --smoke                                        # the same

Each benchmark is a script of this folder with ``main(argv)`` (see
:data:`BENCHMARKS`); it prints its own comparison (torchxai against its peers,
run side by side in the same process: captum's Lime and KernelShap, cvxpy ...) and
writes ``<out-dir>/<name>.json`` with the device, the torch version and its
timings. This runner gives each the same ``--seed`` and ``--device``, times it
(on a GPU after ``torch.cuda.synchronize`` and with CUDA events), and keeps
``<out-dir>/summary.json`` (written atomically after every benchmark) with the
device, the versions and each benchmark's status, seconds and arguments. A
benchmark that fails is recorded and the others still run. A re-run skips the
benchmarks that already finished with the same arguments (``--force`` re-runs
them), so an interrupted run resumes where it stopped.
"""

from __future__ import annotations

import argparse
import importlib.util
import json
import os
import platform
import sys
import time
import traceback
from dataclasses import dataclass
from pathlib import Path
from types import ModuleType
from typing import Any

import torch

from torchxai.io import write_json

HERE = Path(__file__).resolve().parent


@dataclass(frozen=True)
class Benchmark:
    """One benchmark script.

    Attributes:
        script: the file name in the benchmarks folder; its ``main(argv)`` runs it.
        smoke: extra arguments giving tiny sizes (``--smoke``).
        full: extra arguments of a full run (beyond the script's defaults).
        data_dir: whether the script takes ``--data-dir``.
    """

    script: str
    smoke: tuple[str, ...] = ()
    full: tuple[str, ...] = ()
    data_dir: bool = True


BENCHMARKS: dict[str, Benchmark] = {
    "solvers": Benchmark(
        "bench_solvers.py",
        ("--batch", "4", "--sizes", "50x20")
        + ("--cvxpy-problems", "2", "--sklearn-problems", "2"),
        data_dir=False,
    ),
    "explain": Benchmark(
        "bench_explain.py",
        ("--batches", "1,2", "--n-samples", "150", "--n-components", "2")
        + ("--captum-max", "1", "--repeats", "1"),
    ),
    "dmm": Benchmark(
        "bench_dmm.py",
        ("--sizes", "150", "--truncations", "2", "--steps", "60")
        + ("--gibbs-iterations", "20", "--held-out", "100"),
        full=("--gibbs-iterations", "2000"),
    ),
    "batch_invariance": Benchmark(
        "bench_batch_invariance.py",
        ("--n-inputs", "2", "--n-samples", "150", "--methods", "lime"),
        full=("--n-inputs", "64"),
    ),
}
"""Name -> benchmark, in the order they run."""

_NAME_WIDTH = max(len("benchmark"), *map(len, BENCHMARKS)) + 2


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    """The command line."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--only", default=None, help="comma-separated names")
    parser.add_argument("--smoke", action="store_true", help="tiny sizes")
    parser.add_argument("--out-dir", type=Path, default=Path("results/bench"))
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--data-dir", default=None)
    parser.add_argument("--force", action="store_true", help="re-run finished ones")
    parser.add_argument("--list", action="store_true", help="list and stop")
    parser.add_argument("--progress", action="store_true", help="a progress bar")
    parser.add_argument(
        "--bench-dir", type=Path, default=HERE, help="where the scripts are"
    )
    args = parser.parse_args(argv)
    names = list(BENCHMARKS)
    if args.only is not None:
        names = [name.strip() for name in args.only.split(",") if name.strip()]
        unknown = [name for name in names if name not in BENCHMARKS]
        if unknown or not names:
            parser.error(f"--only: unknown {unknown}; choose among {list(BENCHMARKS)}")
    args.names = names
    return args


def benchmark_argv(name: str, args: argparse.Namespace) -> list[str]:
    """The arguments given to one benchmark's ``main``."""
    spec = BENCHMARKS[name]
    argv = ["--out", str(args.out_dir / f"{name}.json")]
    argv += ["--seed", str(args.seed), "--device", str(args.device)]
    if spec.data_dir and args.data_dir is not None:
        argv += ["--data-dir", str(args.data_dir)]
    argv += list(spec.smoke if args.smoke else spec.full)
    return argv


def environment(device: str) -> dict[str, Any]:
    """The machine and versions the benchmarks run on."""
    info: dict[str, Any] = {
        "device": device,
        "torch": torch.__version__,
        "python": platform.python_version(),
        "platform": platform.platform(),
        "cpu_count": os.cpu_count(),
        "torch_threads": torch.get_num_threads(),
        "cuda_available": torch.cuda.is_available(),
    }
    if torch.device(device).type == "cuda":
        info["gpu"] = torch.cuda.get_device_name(torch.device(device))
        info["cuda"] = torch.version.cuda
    return info


class Timer:
    """Wall-clock seconds of a block; on a GPU also CUDA-event seconds.

    On a CUDA device the block is bracketed by ``torch.cuda.synchronize`` so that
    queued kernels are counted, and by two CUDA events whose elapsed time is
    :attr:`cuda_seconds` (None on other devices).
    """

    def __init__(self, device: str) -> None:
        self.device = torch.device(device)
        self.seconds = 0.0
        self.cuda_seconds: float | None = None
        self._events: tuple[Any, Any] | None = None
        self._started = 0.0

    def __enter__(self) -> Timer:
        if self.device.type == "cuda":
            torch.cuda.synchronize(self.device)
            self._events = (
                torch.cuda.Event(enable_timing=True),
                torch.cuda.Event(enable_timing=True),
            )
            self._events[0].record()
        self._started = time.perf_counter()
        return self

    def __exit__(self, *exc: object) -> None:
        if self._events is not None:
            self._events[1].record()
            torch.cuda.synchronize(self.device)
            self.cuda_seconds = self._events[0].elapsed_time(self._events[1]) / 1e3
        self.seconds = time.perf_counter() - self._started


def load_module(path: Path) -> ModuleType:
    """Import a benchmark script by its path."""
    name = f"torchxai_bench_{path.stem}"
    spec = importlib.util.spec_from_file_location(name, path)
    if spec is None or spec.loader is None:
        raise ImportError(f"{path} cannot be imported")
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module
    spec.loader.exec_module(module)
    return module


def run_one(name: str, args: argparse.Namespace) -> dict[str, Any]:
    """Run one benchmark; its status, seconds and arguments (never raises)."""
    argv = benchmark_argv(name, args)
    path = args.bench_dir / BENCHMARKS[name].script
    entry: dict[str, Any] = {"script": path.name, "argv": argv}
    if not path.is_file():
        return entry | {"status": "missing", "error": f"{path} does not exist"}
    timer = Timer(args.device)
    try:
        module = load_module(path)
        with timer:
            module.main(argv)
    except (Exception, SystemExit) as exc:  # one failure must not stop the rest
        detail = traceback.format_exception_only(type(exc), exc)[-1].strip()
        return entry | {"status": "failed", "error": detail, "seconds": timer.seconds}
    out = Path(argv[1])
    status = "ok" if out.is_file() else "failed"
    entry |= {"status": status, "seconds": timer.seconds, "json": str(out)}
    if timer.cuda_seconds is not None:
        entry["cuda_seconds"] = timer.cuda_seconds
    if status == "failed":
        entry["error"] = f"the benchmark wrote no {out}"
    return entry


def finished_earlier(summary: dict[str, Any], name: str, argv: list[str]) -> bool:
    """Whether ``summary`` records a successful run of ``name`` with ``argv``."""
    entry = summary.get("benchmarks", {}).get(name)
    return (
        isinstance(entry, dict)
        and entry.get("status") == "ok"
        and entry.get("argv") == argv
        and Path(entry.get("json", "")).is_file()
    )


def read_summary(path: Path) -> dict[str, Any]:
    """The summary of an earlier run, or an empty one."""
    try:
        summary = json.loads(path.read_text())
    except (FileNotFoundError, ValueError):
        return {}
    return summary if isinstance(summary, dict) else {}


def format_summary(summary: dict[str, Any]) -> str:
    """One line per benchmark: status, seconds, JSON file or error."""
    env = summary["environment"]
    lines = [f"device {env['device']}, torch {env['torch']}", ""]
    width = _NAME_WIDTH
    lines.append(f"{'benchmark':<{width}}{'status':<14}{'seconds':>9}  output")
    for name, entry in summary["benchmarks"].items():
        seconds = entry.get("seconds")
        shown = f"{seconds:>9.1f}" if isinstance(seconds, float) else f"{'-':>9}"
        where = entry.get("json") or entry.get("error", "")
        status = entry["status"] + (" (earlier)" if "skipped" in entry else "")
        lines.append(f"{name:<{width}}{status:<14}{shown}  {where}")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    """Run the selected benchmarks; print the summary; 0 if all succeeded."""
    args = parse_args(argv)
    if args.list:
        for name, spec in BENCHMARKS.items():
            present = "" if (args.bench_dir / spec.script).is_file() else " (missing)"
            print(f"{name:<{_NAME_WIDTH}}{spec.script}{present}")
        return 0
    args.out_dir.mkdir(parents=True, exist_ok=True)
    summary_path = args.out_dir / "summary.json"
    earlier = read_summary(summary_path)
    summary: dict[str, Any] = {
        "environment": environment(args.device),
        "smoke": args.smoke,
        "benchmarks": {},
    }
    names = args.names
    if args.progress:
        from tqdm.auto import tqdm

        names = tqdm(names, desc="benchmarks", unit="benchmark")
    for name in names:
        argv_one = benchmark_argv(name, args)
        if not args.force and finished_earlier(earlier, name, argv_one):
            entry = dict(earlier["benchmarks"][name])
            entry["skipped"] = "finished earlier with the same arguments"
        else:
            print(f"=== {name} ===", flush=True)
            entry = run_one(name, args)
        summary["benchmarks"][name] = entry
        write_json(summary_path, summary)
    print()
    print(format_summary(summary))
    print(f"summary written to {summary_path}")
    failed = [n for n, e in summary["benchmarks"].items() if e["status"] != "ok"]
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
