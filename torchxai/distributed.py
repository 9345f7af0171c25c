"""Explaining a large data set: resumable chunks, and shards across processes.

Local methods (LEMNA, LIME, the random baseline) explain every input on its own:
an input's explanation depends on the seed, the input and its target, not on the
other inputs of the batch (see :mod:`torchxai.samplers`). So a data set can be cut
into chunks, each explained separately, and the parts concatenated: the result is
the explanation of the whole batch.

* :func:`explain_chunked`: one process; chunks of ``chunk_size`` inputs, each
  saved atomically to ``out_dir/parts/part-00000.pt`` ... as soon as it is done. A
  re-run with the same arguments skips the finished chunks, so an interrupted run
  resumes where it stopped. The merged result goes to ``out_dir/explanation.pt``
  (atomically).
* :func:`explain_sharded`: the same chunks spread over the processes of a
  ``torch.distributed`` job (e.g. ``torchrun --nproc_per_node 2``; the gloo
  backend on CPUs, nccl on GPUs): each rank explains a contiguous range of chunks
  and writes ``out_dir/rank-<r>.pt``; after a barrier rank 0 merges the ranks'
  files into ``out_dir/explanation.pt``.
* :func:`concat_explanations`: the explanation of a batch from those of its parts.

``out_dir/manifest.json`` records what the folder holds (the method, its options,
the chunk size and fingerprints of the inputs, the targets and the model's
weights); a run whose arguments differ from the folder's is refused rather than
mixed with it.

Global methods (``"dmm"``, ``"dmm_men"``) fit one model to the whole batch, so a
chunked run would change the result: they are refused unless the batch is one
chunk in one process.
"""

from __future__ import annotations

import hashlib
import json
import logging
import math
import os
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch
from torch import Tensor

from torchxai.errors import CorruptFileError, InvalidInputError, TorchXAIError
from torchxai.explain import explain
from torchxai.explanation import _TENSOR_FIELDS, Explanation
from torchxai.io import write_json

logger = logging.getLogger(__name__)

GLOBAL_METHODS = ("dmm", "dmm_men")
"""Methods whose explanation of an input depends on the rest of the batch."""

MANIFEST = "manifest.json"
MERGED = "explanation.pt"
PARTS = "parts"

_FORMAT = "torchxai.chunks"
_VERSION = 1

_PADDED_FIELDS = ("feature_scores", "coefficients")
_BATCH_FIELDS = _TENSOR_FIELDS  # every tensor of an Explanation is batched


# --- merging -------------------------------------------------------------------


def concat_explanations(parts: Sequence[Explanation]) -> Explanation:
    """The explanation of a batch, from the explanations of its consecutive parts.

    Tensors are concatenated along the batch dimension. ``feature_scores`` (B, p)
    and ``coefficients`` (B, K, p) are padded with zeros to the largest ``p`` of
    the parts (inputs with fewer features, such as images with fewer segments, are
    padded the same way within one batch).

    Args:
        parts: explanations of one method, seed and options, in input order.

    Returns:
        The concatenated explanation, with the tensors on the first part's device.

    Raises:
        InvalidInputError: no parts, or parts of different methods, seeds, options,
            input shapes, or with a field present in some parts only.
    """
    if not parts:
        raise InvalidInputError("concat_explanations: got no explanations")
    first = parts[0]
    for index, part in enumerate(parts[1:], start=1):
        _check_compatible(first, part, index)
    merged: dict[str, Any] = {}
    for name in _BATCH_FIELDS:
        values = [getattr(part, name) for part in parts]
        if all(value is None for value in values):
            merged[name] = None
            continue
        if any(value is None for value in values):
            raise InvalidInputError(
                f"concat_explanations: field {name} is set in some parts only"
            )
        if name in _PADDED_FIELDS:
            values = _pad_last(values)
        merged[name] = torch.cat([value.to(first.scores.device) for value in values])
    return Explanation(
        method=first.method, options=first.options, seed=first.seed, **merged
    )


def _check_compatible(first: Explanation, part: Explanation, index: int) -> None:
    checks = {
        "method": (first.method, part.method),
        "seed": (first.seed, part.seed),
        "options": (first.options, part.options),
        "input shape": (first.input_shape, part.input_shape),
    }
    for what, (want, got) in checks.items():
        if want != got:
            raise InvalidInputError(
                f"concat_explanations: part {index} has {what} {got!r}; part 0 has "
                f"{want!r}"
            )


def _pad_last(values: list[Tensor]) -> list[Tensor]:
    width = max(value.shape[-1] for value in values)
    return [
        torch.nn.functional.pad(value, (0, width - value.shape[-1])) for value in values
    ]


# --- one process, resumable chunks -------------------------------------------


@dataclass(frozen=True)
class _Run:
    """One chunked run: what to explain and where its files go."""

    model: Callable[[Tensor], Tensor]
    inputs: Tensor
    target: Any
    method: str
    options: dict[str, Any]
    out_dir: Path
    chunk_size: int
    device: torch.device | None = None

    @property
    def n_inputs(self) -> int:
        return int(self.inputs.shape[0])

    @property
    def n_chunks(self) -> int:
        return math.ceil(self.n_inputs / self.chunk_size)

    def bounds(self, chunk: int) -> tuple[int, int]:
        start = chunk * self.chunk_size
        return start, min(start + self.chunk_size, self.n_inputs)

    def part_path(self, chunk: int) -> Path:
        return self.out_dir / PARTS / f"part-{chunk:05d}.pt"


def explain_chunked(
    model: Callable[[Tensor], Tensor],
    inputs: Tensor,
    method: str = "lemna",
    out_dir: str | os.PathLike[str] = "explanations",
    *,
    target: Any = None,
    chunk_size: int = 256,
    max_chunks: int | None = None,
    progress: bool = False,
    run_info: dict[str, Any] | None = None,
    **options: Any,
) -> Explanation | None:
    """Explain ``inputs`` chunk by chunk, saving each chunk; resume a stopped run.

    Chunk ``c`` holds inputs ``c * chunk_size`` up to the next chunk and is saved
    to ``out_dir/parts/part-<c>.pt`` as soon as it is explained. Chunks already in
    the folder are loaded instead of explained again; when all are there they are
    merged into ``out_dir/explanation.pt``. A folder that already holds a merged
    result of the same run is read back directly.

    Args:
        model: the model, as for :func:`torchxai.explain`; ``inputs`` must be on
            its device.
        inputs: (N, *input_shape) the inputs to explain.
        method: a registered method name; global methods (:data:`GLOBAL_METHODS`)
            only with ``chunk_size >= N``.
        out_dir: the folder of the run (created if needed).
        target: as for :func:`torchxai.explain`; a tensor whose first dimension is
            N holds one target per input and is cut with the inputs (pass a shared
            ``(position, class)`` as a tuple).
        chunk_size: inputs per chunk.
        max_chunks: explain at most this many new chunks, then stop (returns None);
            a later call goes on from there.
        progress: show a tqdm progress bar over the chunks.
        run_info: JSON-able facts about the run (e.g. the model's name) recorded in
            the manifest and compared on resume.
        **options: options of :func:`torchxai.explain` (``seed``, ``n_samples``,
            the method's own options ...).

    Returns:
        The explanation of all N inputs (tensors on the CPU), or None if
        ``max_chunks`` stopped the run before the last chunk.

    Raises:
        InvalidInputError: bad arguments, a global method over several chunks, or
            an ``out_dir`` holding a different run.
    """
    run = _make_run(model, inputs, target, method, options, out_dir, chunk_size)
    _check_chunking(run, n_processes=1)
    max_chunks = _check_max_chunks(max_chunks)
    _claim_folder(run, run_info, write=True)
    merged = run.out_dir / MERGED
    if merged.exists():
        logger.info("%s already holds the merged explanation", merged)
        return Explanation.load(merged)
    done = _explain_chunks(run, range(run.n_chunks), max_chunks, progress)
    if not done:
        return None
    explanation = concat_explanations(
        [Explanation.load(run.part_path(c)) for c in range(run.n_chunks)]
    )
    explanation.save(merged)
    return explanation


def _make_run(
    model: Callable[[Tensor], Tensor],
    inputs: Tensor,
    target: Any,
    method: str,
    options: dict[str, Any],
    out_dir: str | os.PathLike[str],
    chunk_size: int,
    device: torch.device | None = None,
) -> _Run:
    if not isinstance(inputs, Tensor) or inputs.dim() < 2 or inputs.shape[0] == 0:
        got = tuple(inputs.shape) if isinstance(inputs, Tensor) else type(inputs)
        raise InvalidInputError(
            f"inputs must be a non-empty batch tensor (N, *input_shape); got {got}"
        )
    if isinstance(chunk_size, bool) or not isinstance(chunk_size, int):
        raise InvalidInputError(f"chunk_size must be an integer; got {chunk_size!r}")
    if chunk_size < 1:
        raise InvalidInputError(f"chunk_size must be at least 1; got {chunk_size}")
    if not isinstance(method, str):
        raise InvalidInputError(f"method must be a method name; got {method!r}")
    folder = Path(out_dir)
    if folder.exists() and not folder.is_dir():
        raise InvalidInputError(f"out_dir {str(folder)!r} exists and is not a folder")
    return _Run(
        model, inputs, target, method, dict(options), folder, chunk_size, device
    )


def _check_chunking(run: _Run, n_processes: int) -> None:
    if run.method in GLOBAL_METHODS and (run.n_chunks > 1 or n_processes > 1):
        raise InvalidInputError(
            f"method {run.method!r} fits one global model to the whole batch, so "
            f"splitting {run.n_inputs} inputs into {run.n_chunks} chunk(s) over "
            f"{n_processes} process(es) would change it; use chunk_size >= "
            f"{run.n_inputs} in one process"
        )


def _check_max_chunks(max_chunks: int | None) -> int | None:
    if max_chunks is None:
        return None
    if isinstance(max_chunks, bool) or not isinstance(max_chunks, int):
        raise InvalidInputError(f"max_chunks must be an integer; got {max_chunks!r}")
    if max_chunks < 0:
        raise InvalidInputError(f"max_chunks must be >= 0; got {max_chunks}")
    return max_chunks


def _explain_chunks(
    run: _Run, chunks: Sequence[int], max_chunks: int | None, progress: bool
) -> bool:
    """Explain the missing chunks among ``chunks``; False if stopped early."""
    todo = [c for c in chunks if not run.part_path(c).exists()]
    if len(todo) < len(chunks):
        logger.info(
            "resuming: %d of %d chunk(s) done", len(chunks) - len(todo), len(chunks)
        )
    (run.out_dir / PARTS).mkdir(parents=True, exist_ok=True)
    bar = _progress_bar(len(chunks), len(chunks) - len(todo), progress)
    try:
        for count, chunk in enumerate(todo):
            if max_chunks is not None and count >= max_chunks:
                logger.info("stopped after %d new chunk(s) (max_chunks)", count)
                return False
            _explain_one_chunk(run, chunk)
            bar.update(1)
    finally:
        bar.close()
    return True


def _explain_one_chunk(run: _Run, chunk: int) -> None:
    start, stop = run.bounds(chunk)
    inputs = run.inputs[start:stop]
    if run.device is not None:
        inputs = inputs.to(run.device)
    explanation = explain(
        run.model,
        inputs,
        run.method,
        target=_slice_target(run.target, run.n_inputs, start, stop),
        **run.options,
    )
    explanation.to("cpu").save(run.part_path(chunk))
    logger.debug("chunk %d (inputs %d:%d) saved", chunk, start, stop)


def _slice_target(target: Any, n_inputs: int, start: int, stop: int) -> Any:
    """A per-input target tensor is cut with the inputs; anything else is shared."""
    if isinstance(target, Tensor) and target.dim() >= 1:
        if target.shape[0] != n_inputs:
            raise InvalidInputError(
                f"target tensor has {target.shape[0]} rows; expected one per input "
                f"({n_inputs}). Pass a shared (position, class) as a tuple"
            )
        return target[start:stop]
    return target


def _progress_bar(total: int, initial: int, enabled: bool) -> Any:
    if enabled:
        from tqdm.auto import tqdm

        return tqdm(total=total, initial=initial, desc="chunks", unit="chunk")
    return _NoBar()


class _NoBar:
    def update(self, n: int) -> None:
        pass

    def close(self) -> None:
        pass


# --- the manifest ----------------------------------------------------------------


def _claim_folder(run: _Run, run_info: dict[str, Any] | None, *, write: bool) -> None:
    """Check that ``out_dir`` holds nothing or this run; record the run if asked."""
    manifest = _manifest(run, run_info)
    path = run.out_dir / MANIFEST
    if path.exists():
        try:
            found = json.loads(path.read_text(encoding="utf-8"))
        except ValueError as exc:
            raise CorruptFileError(f"{str(path)!r} is not valid JSON ({exc})") from exc
        differing = sorted(
            key
            for key in set(found) | set(manifest)
            if found.get(key) != manifest.get(key)
        )
        if differing:
            raise InvalidInputError(
                f"{str(run.out_dir)!r} holds the files of another run (differing: "
                f"{', '.join(differing)}); use another output folder or delete it"
            )
    elif write:
        write_json(path, manifest)


def _manifest(run: _Run, run_info: dict[str, Any] | None) -> dict[str, Any]:
    record = {
        "format": _FORMAT,
        "version": _VERSION,
        "method": run.method,
        "options": _canonical(run.options),
        "n_inputs": run.n_inputs,
        "input_shape": list(run.inputs.shape[1:]),
        "chunk_size": run.chunk_size,
        "inputs_sha256": fingerprint(run.inputs),
        "target_sha256": fingerprint(run.target),
        "model_sha256": _model_fingerprint(run.model),
    }
    if run_info:
        clash = sorted(set(run_info) & set(record))
        if clash:
            raise InvalidInputError(f"run_info keys {clash} are reserved; rename them")
        record.update(_canonical(run_info))
    return record


def _canonical(value: Any) -> Any:
    """JSON-able form of options: tensors by fingerprint, tuples as lists."""
    if isinstance(value, Tensor):
        return {"tensor_sha256": fingerprint(value)}
    if isinstance(value, dict):
        return {str(key): _canonical(item) for key, item in sorted(value.items())}
    if isinstance(value, list | tuple):
        return [_canonical(item) for item in value]
    if isinstance(value, float) and not math.isfinite(value):
        return repr(value)
    if value is None or isinstance(value, bool | int | float | str):
        return value
    return repr(value)


def fingerprint(value: Any) -> str:
    """A SHA-256 hex digest of a tensor's dtype, shape and values (or of ``repr``).

    Args:
        value: a tensor, or any value with a stable ``repr`` (None, numbers, tuples).

    Returns:
        64 hex digits.
    """
    digest = hashlib.sha256()
    if isinstance(value, Tensor):
        tensor = value.detach().cpu().contiguous()
        digest.update(f"{tensor.dtype}{tuple(tensor.shape)}".encode())
        digest.update(tensor.reshape(-1).view(torch.uint8).numpy().tobytes())
    else:
        digest.update(repr(value).encode())
    return digest.hexdigest()


def _model_fingerprint(model: Any) -> str | None:
    """SHA-256 over a module's state dict (names, dtypes, shapes, values)."""
    if not isinstance(model, torch.nn.Module):
        return None
    digest = hashlib.sha256()
    for name, tensor in sorted(model.state_dict().items()):
        digest.update(name.encode())
        digest.update(fingerprint(tensor).encode())
    return digest.hexdigest()


# --- several processes -----------------------------------------------------------


@dataclass(frozen=True)
class ProcessGroup:
    """Where this process stands in a torch.distributed job.

    Attributes:
        rank: this process's rank, 0 <= rank < world_size.
        world_size: the number of processes (1 without torch.distributed).
        device: the device this rank computes on.
        created: whether :func:`init_process_group` started the group (and so
            :func:`explain_sharded` ends it).
    """

    rank: int
    world_size: int
    device: torch.device
    created: bool = False


def init_process_group(
    backend: str | None = None, device: str | torch.device | None = None
) -> ProcessGroup:
    """Join the torch.distributed job this process belongs to, if any.

    An already initialized default group is used as it is. Otherwise, if the
    environment of ``torchrun`` is set (``WORLD_SIZE`` > 1, ``RANK``,
    ``MASTER_ADDR`` ...), the default group is initialized with ``backend``:
    default nccl when CUDA is available, else gloo. Without either, the process is
    alone (rank 0 of 1).

    Args:
        backend: ``"gloo"``, ``"nccl"`` or None (choose as above).
        device: the device of this rank; default ``cuda:<LOCAL_RANK>`` under nccl,
            else the CPU.

    Returns:
        The rank, the world size and the device.
    """
    import torch.distributed as dist

    created = False
    if not (dist.is_available() and dist.is_initialized()):
        world = int(os.environ.get("WORLD_SIZE", "1"))
        if world <= 1:
            return ProcessGroup(0, 1, torch.device(device or "cpu"))
        if not dist.is_available():
            raise InvalidInputError(
                f"WORLD_SIZE={world} but this torch build has no torch.distributed"
            )
        chosen = backend or ("nccl" if torch.cuda.is_available() else "gloo")
        dist.init_process_group(backend=chosen)
        created = True
    if device is None:
        if dist.get_backend() == "nccl":
            local = int(os.environ.get("LOCAL_RANK", dist.get_rank()))
            device = torch.device("cuda", local)
            torch.cuda.set_device(device)
        else:
            device = torch.device("cpu")
    return ProcessGroup(
        dist.get_rank(), dist.get_world_size(), torch.device(device), created
    )


def explain_sharded(
    model_fn: Callable[[torch.device], Callable[[Tensor], Tensor]],
    inputs: Tensor,
    method: str = "lemna",
    out_dir: str | os.PathLike[str] = "explanations",
    *,
    target: Any = None,
    chunk_size: int | None = None,
    max_chunks: int | None = None,
    backend: str | None = None,
    device: str | torch.device | None = None,
    progress: bool = False,
    run_info: dict[str, Any] | None = None,
    **options: Any,
) -> Explanation | None:
    """Explain ``inputs`` with every process of a torch.distributed job.

    Call it on every rank with the same arguments (e.g. from a script started by
    ``torchrun --nproc_per_node 2``). The inputs are cut into chunks of
    ``chunk_size`` (default: one chunk per rank) and rank ``r`` explains a
    contiguous range of them on its device, each chunk saved to
    ``out_dir/parts/`` as in :func:`explain_chunked`; it then writes its part to
    ``out_dir/rank-<r>.pt``. After a barrier, rank 0 merges the ranks' parts into
    ``out_dir/explanation.pt``; after a second barrier every rank reads it back.
    Finished chunks are skipped on a re-run, with any number of processes, as long
    as ``chunk_size`` is the same. Without a distributed job (no group, no
    ``torchrun`` environment) this runs in one process.

    Args:
        model_fn: builds the model on a device: ``model_fn(device) -> model``.
            Called once on every rank.
        inputs: (N, *input_shape) every input, identical on every rank (any
            device; each rank moves its shard to its device).
        method: a registered method name (a local one if there are several chunks
            or processes).
        out_dir: a folder every rank can read and write (a shared file system
            across machines).
        target: as in :func:`explain_chunked`.
        chunk_size: inputs per chunk; default ``ceil(N / world_size)``.
        max_chunks: each rank explains at most this many new chunks; if any rank
            stops early, nothing is merged and every rank returns None.
        backend: the backend when this call initializes the group (see
            :func:`init_process_group`); a group it initializes is destroyed at the
            end.
        device: this rank's device (default: see :func:`init_process_group`).
        progress: a progress bar over this rank's chunks (rank 0 only).
        run_info: as in :func:`explain_chunked`.
        **options: options of :func:`torchxai.explain`.

    Returns:
        The explanation of all N inputs (CPU tensors) on every rank, or None if
        ``max_chunks`` stopped some rank early.

    Raises:
        TorchXAIError: on the other ranks, when one rank failed (that rank raises
            its own error); finished chunks are kept for a re-run.
    """
    group = init_process_group(backend, device)
    try:
        return _explain_sharded(
            group, model_fn, inputs, method, out_dir, target, chunk_size,
            max_chunks, progress, run_info, options,
        )  # fmt: skip
    finally:
        if group.created:
            import torch.distributed as dist

            dist.destroy_process_group()


def _explain_sharded(
    group: ProcessGroup,
    model_fn: Callable[[torch.device], Callable[[Tensor], Tensor]],
    inputs: Tensor,
    method: str,
    out_dir: str | os.PathLike[str],
    target: Any,
    chunk_size: int | None,
    max_chunks: int | None,
    progress: bool,
    run_info: dict[str, Any] | None,
    options: dict[str, Any],
) -> Explanation | None:
    if not isinstance(inputs, Tensor) or inputs.dim() < 2 or inputs.shape[0] == 0:
        raise InvalidInputError("inputs must be a non-empty batch tensor (N, ...)")
    size = math.ceil(inputs.shape[0] / group.world_size)
    size = size if chunk_size is None else chunk_size
    model = model_fn(group.device)
    if isinstance(target, Tensor):
        target = target.to(group.device)
    run = _make_run(model, inputs, target, method, options, out_dir, size, group.device)
    _check_chunking(run, group.world_size)
    max_chunks = _check_max_chunks(max_chunks)
    _claim_folder(run, run_info, write=False)
    _barrier(group)
    if group.rank == 0:
        _claim_folder(run, run_info, write=True)
    merged = run.out_dir / MERGED
    if merged.exists():
        return Explanation.load(merged)
    mine = shard_range(run.n_chunks, group.rank, group.world_size)
    try:
        state = _STOPPED
        if _explain_chunks(run, mine, max_chunks, progress and group.rank == 0):
            if len(mine) > 0:
                part = [Explanation.load(run.part_path(c)) for c in mine]
                concat_explanations(part).save(run.out_dir / f"rank-{group.rank}.pt")
            state = _COMPLETE
    except BaseException:
        _least_state(group, _FAILED)  # lets the other ranks stop instead of hang
        raise
    state = _least_state(group, state)
    if state == _FAILED:
        raise TorchXAIError(
            "explain_sharded: another rank failed (see its error); the chunks "
            "finished so far are kept, so a re-run resumes from them"
        )
    if state == _COMPLETE and group.rank == 0:
        _merge_ranks(run, group.world_size)
    _barrier(group)
    return Explanation.load(merged) if state == _COMPLETE else None


def shard_range(n_items: int, rank: int, world_size: int) -> range:
    """The contiguous items of rank ``rank`` when ``n_items`` are split evenly.

    Args:
        n_items: the number of items (chunks).
        rank: 0 <= rank < world_size.
        world_size: the number of processes.

    Returns:
        ``range(start, stop)``; the ranges of all ranks are disjoint, in rank
        order, cover ``range(n_items)``, and differ in length by at most one.
    """
    if world_size < 1 or not 0 <= rank < world_size:
        raise InvalidInputError(
            f"rank {rank} and world_size {world_size}: expected 0 <= rank < world_size"
        )
    return range(rank * n_items // world_size, (rank + 1) * n_items // world_size)


def _merge_ranks(run: _Run, world_size: int) -> None:
    parts = []
    for rank in range(world_size):
        if len(shard_range(run.n_chunks, rank, world_size)) > 0:
            parts.append(Explanation.load(run.out_dir / f"rank-{rank}.pt"))
    concat_explanations(parts).save(run.out_dir / MERGED)
    logger.info("merged %d rank file(s) into %s", len(parts), run.out_dir / MERGED)


def _barrier(group: ProcessGroup) -> None:
    if group.world_size > 1:
        import torch.distributed as dist

        dist.barrier()


_FAILED, _STOPPED, _COMPLETE = 0, 1, 2


def _least_state(group: ProcessGroup, state: int) -> int:
    """The lowest state over the ranks: failed < stopped early < complete."""
    if group.world_size == 1:
        return state
    import torch.distributed as dist

    value = torch.tensor([state], device=group.device)
    dist.all_reduce(value, op=dist.ReduceOp.MIN)
    return int(value.item())
