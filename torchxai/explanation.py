"""The result type every explanation method returns.

An :class:`Explanation` holds, for a batch of ``B`` explained inputs of shape
``input_shape``:

* ``scores`` (B, *input_shape): one importance score per input element. Elements
  that are not features of the explanation (positions outside a sequence window)
  score 0; elements of one segment share the segment's score.
* ``feature_map`` (B, *input_shape) int64: the feature each element belongs to, -1
  for elements that are not features. It maps ``feature_scores`` and
  ``coefficients`` (one value per feature) back onto the input.
* the surrogate, where the method fits one: ``coefficients`` (B, K, p) and
  ``intercepts`` (B, K) of its K linear components (K = 1 for LIME),
  ``mixing_weights`` (B, K), ``component`` (B,) the component that covers the
  explained input, and ``fit_rmse`` (B,) the root mean squared error between the
  surrogate and the model on the perturbed samples (NaN where no surrogate is fitted).
* ``target`` (B,) class indices, or (B, 2) ``(position, class)`` pairs for sequence
  labellers; ``target_probability`` (B,) the model's probability of that target on
  the unperturbed input.
* ``method``, the resolved ``options`` (JSON-able) and the ``seed``.

Explanations save to and load from one file (:meth:`Explanation.save`,
:meth:`Explanation.load`) and convert to plain JSON types (:meth:`Explanation.to_dict`).
"""

from __future__ import annotations

import json
import math
import os
import tempfile
from dataclasses import dataclass, field, fields
from pathlib import Path
from typing import Any

import torch
from torch import Tensor

from torchxai.errors import CorruptFileError, DataFileMissingError, InvalidInputError

_FORMAT = "torchxai.Explanation"
_VERSION = 1
_TENSOR_FIELDS = (
    "scores",
    "target",
    "fit_rmse",
    "feature_map",
    "feature_scores",
    "coefficients",
    "intercepts",
    "mixing_weights",
    "component",
    "target_probability",
)
_REQUIRED_TENSORS = ("scores", "target", "fit_rmse")


@dataclass
class Explanation:
    """Per-feature scores for a batch of explained inputs, and their surrogate.

    Attributes:
        scores: (B, *input_shape) float scores; larger means more support for the
            target.
        method: the name of the method that produced the explanation.
        target: (B,) int64 class indices, or (B, 2) int64 ``(position, class)``.
        fit_rmse: (B,) RMSE between surrogate and model on the perturbations;
            NaN for methods without a surrogate (``"random"``).
        options: the resolved options of the run, JSON-able.
        seed: the seed of the run.
        feature_map: (B, *input_shape) int64 feature index of every element, -1 for
            elements that are not features; None if the method has no features.
        feature_scores: (B, p) the score of each feature (padded with 0 where inputs
            of one batch have fewer features than p).
        coefficients: (B, K, p) coefficients of the K surrogate components, or None.
        intercepts: (B, K) intercepts of the components, or None.
        mixing_weights: (B, K) mixing weights of the components, or None.
        component: (B,) int64 index of the component covering the explained input.
        target_probability: (B,) the model's probability of the target on the input.
    """

    scores: Tensor
    method: str
    target: Tensor
    fit_rmse: Tensor
    options: dict[str, Any] = field(default_factory=dict)
    seed: int = 0
    feature_map: Tensor | None = None
    feature_scores: Tensor | None = None
    coefficients: Tensor | None = None
    intercepts: Tensor | None = None
    mixing_weights: Tensor | None = None
    component: Tensor | None = None
    target_probability: Tensor | None = None

    def __post_init__(self) -> None:
        for name in _TENSOR_FIELDS:
            value = getattr(self, name)
            if not isinstance(value, Tensor) and (
                value is not None or name in _REQUIRED_TENSORS
            ):
                raise InvalidInputError(
                    f"Explanation.{name} must be a torch.Tensor"
                    f"{'' if name in _REQUIRED_TENSORS else ' or None'}; "
                    f"got {type(value).__name__}"
                )
        if self.scores.dim() < 2:
            raise InvalidInputError(
                f"Explanation.scores must have a batch dimension, shape (B, ...); "
                f"got shape {tuple(self.scores.shape)}"
            )
        batch = self.scores.shape[0]
        for name in _TENSOR_FIELDS:
            value = getattr(self, name)
            if value is not None and value.shape[0] != batch:
                raise InvalidInputError(
                    f"Explanation.{name} has {value.shape[0]} rows, expected one per "
                    f"explained input ({batch})"
                )

    @property
    def batch_size(self) -> int:
        """The number B of explained inputs."""
        return int(self.scores.shape[0])

    @property
    def input_shape(self) -> tuple[int, ...]:
        """The shape of one explained input."""
        return tuple(self.scores.shape[1:])

    def ranking(self) -> Tensor:
        """Input elements ordered from the most to the least important.

        Elements that are features of the explanation come first, by descending
        score (ties keep the element order); elements outside the features (such as
        sequence positions outside the window) follow in their natural order.

        Returns:
            (B, prod(input_shape)) int64 indices into the flattened input.
        """
        numel = math.prod(self.input_shape)  # not -1: B may be 0
        flat = self.scores.reshape(self.batch_size, numel).to(torch.float64)
        if self.feature_map is not None:
            outside = self.feature_map.reshape(self.batch_size, numel) < 0
            flat = flat.masked_fill(outside, -math.inf)
        return torch.sort(flat, dim=1, descending=True, stable=True).indices

    def top_k(self, k: int) -> Tensor:
        """The k most important input elements of each explained input.

        Args:
            k: how many elements, 1 <= k <= prod(input_shape).

        Returns:
            (B, k) int64 indices into the flattened input, most important first.
        """
        numel = math.prod(self.input_shape)
        if isinstance(k, bool) or not isinstance(k, int) or not 1 <= k <= numel:
            raise InvalidInputError(
                f"top_k: k must be an integer in [1, {numel}] (the number of input "
                f"elements); got {k!r}"
            )
        return self.ranking()[:, :k]

    def top_k_mask(self, k: int) -> Tensor:
        """A boolean mask of the k most important elements of each input.

        Args:
            k: how many elements, 1 <= k <= prod(input_shape).

        Returns:
            (B, *input_shape) bool, True at the top-k elements.
        """
        index = self.top_k(k)
        mask = torch.zeros(
            self.batch_size, math.prod(self.input_shape), dtype=torch.bool
        ).to(index.device)
        mask.scatter_(1, index, True)
        return mask.reshape(self.scores.shape)

    def to(self, device: torch.device | str) -> Explanation:
        """A copy with every tensor moved to ``device``."""
        moved = {
            f.name: (
                getattr(self, f.name).to(device)
                if isinstance(getattr(self, f.name), Tensor)
                else getattr(self, f.name)
            )
            for f in fields(self)
        }
        return Explanation(**moved)

    def to_dict(self) -> dict[str, Any]:
        """The explanation as plain JSON types (lists, numbers, strings, None).

        NaN values become None so the result is strict JSON.
        """
        out: dict[str, Any] = {
            "format": _FORMAT,
            "version": _VERSION,
            "method": self.method,
            "seed": self.seed,
            "options": self.options,
        }
        for name in _TENSOR_FIELDS:
            value = getattr(self, name)
            out[name] = None if value is None else _json_values(value.detach().cpu())
        return out

    def save(self, path: str | os.PathLike[str]) -> None:
        """Write the explanation to one file, atomically.

        The file is a ``torch.save`` archive of plain CPU tensors and a JSON string of
        the metadata; it is first written next to ``path`` and then renamed, so a
        crash never leaves a half-written file.

        Args:
            path: the file to write; its folder must exist.

        Raises:
            InvalidInputError: ``path`` is a folder, or its folder does not exist.
        """
        target = Path(path)
        if target.is_dir():
            raise InvalidInputError(
                f"Explanation.save: path {str(path)!r} is a folder; expected a file "
                "name"
            )
        if not target.parent.is_dir():
            raise InvalidInputError(
                f"Explanation.save: folder {str(target.parent)!r} of path "
                f"{str(path)!r} does not exist"
            )
        meta = {
            "format": _FORMAT,
            "version": _VERSION,
            "method": self.method,
            "seed": self.seed,
            "options": self.options,
        }
        payload = {
            "meta": json.dumps(meta),
            "tensors": {
                name: getattr(self, name).detach().cpu().contiguous()
                for name in _TENSOR_FIELDS
                if getattr(self, name) is not None
            },
        }
        handle, tmp = tempfile.mkstemp(prefix=f".{target.name}.", dir=target.parent)
        try:
            with os.fdopen(handle, "wb") as stream:
                torch.save(payload, stream)
                stream.flush()
                os.fsync(stream.fileno())
            os.replace(tmp, target)
        except BaseException:
            if os.path.exists(tmp):
                os.unlink(tmp)
            raise

    @classmethod
    def load(
        cls, path: str | os.PathLike[str], map_location: str | None = None
    ) -> Explanation:
        """Read an explanation written by :meth:`save`.

        Args:
            path: the file.
            map_location: device for the tensors (default: CPU).

        Raises:
            DataFileMissingError: ``path`` does not exist (a ``FileNotFoundError``).
            CorruptFileError: the file is not a saved Explanation.
        """
        try:
            payload = torch.load(
                path, map_location=map_location or "cpu", weights_only=True
            )
        except FileNotFoundError as exc:
            raise DataFileMissingError(
                f"saved Explanation {str(path)!r} does not exist"
            ) from exc
        except Exception as exc:  # torch raises many types for a broken archive
            raise CorruptFileError(
                f"{str(path)!r} is not a saved Explanation: torch.load failed with "
                f"{type(exc).__name__}: {exc}"
            ) from exc
        if not isinstance(payload, dict) or set(payload) != {"meta", "tensors"}:
            raise CorruptFileError(
                f"{str(path)!r} is not a saved Explanation: expected the keys "
                "'meta' and 'tensors'"
            )
        try:
            meta = json.loads(payload["meta"])
        except (TypeError, ValueError) as exc:
            raise CorruptFileError(
                f"{str(path)!r}: unreadable metadata ({exc})"
            ) from exc
        if not isinstance(meta, dict) or meta.get("format") != _FORMAT:
            raise CorruptFileError(
                f"{str(path)!r} is not a saved Explanation (format "
                f"{meta.get('format') if isinstance(meta, dict) else None!r})"
            )
        if meta.get("version") != _VERSION:
            raise CorruptFileError(
                f"{str(path)!r} has Explanation format version "
                f"{meta.get('version')!r}; this torchxai reads version {_VERSION}"
            )
        tensors = payload["tensors"]
        if not isinstance(tensors, dict):
            raise CorruptFileError(
                f"{str(path)!r}: 'tensors' is a {type(tensors).__name__}, expected a "
                "dict of tensors"
            )
        missing = [name for name in _REQUIRED_TENSORS if name not in tensors]
        unknown = [name for name in tensors if name not in _TENSOR_FIELDS]
        if missing or unknown:
            raise CorruptFileError(
                f"{str(path)!r}: missing tensors {missing}, unknown tensors {unknown}"
            )
        seed = meta.get("seed")
        if isinstance(seed, bool) or not isinstance(seed, int):
            raise CorruptFileError(
                f"{str(path)!r}: metadata 'seed' is {seed!r}, expected an integer"
            )
        if not isinstance(meta.get("options"), dict):
            raise CorruptFileError(
                f"{str(path)!r}: metadata 'options' is {meta.get('options')!r}, "
                "expected a JSON object"
            )
        try:
            return cls(
                method=str(meta["method"]),
                seed=seed,
                options=dict(meta["options"]),
                **tensors,
            )
        except (KeyError, TypeError, ValueError) as exc:  # InvalidInputError too
            raise CorruptFileError(
                f"{str(path)!r}: inconsistent content ({exc})"
            ) from exc


def _json_values(value: Tensor) -> Any:
    """A tensor as nested lists with NaN replaced by None."""
    if value.is_floating_point():
        as_list = value.to(torch.float64).tolist()
        return _nan_to_none(as_list)
    return value.tolist()


def _nan_to_none(value: Any) -> Any:
    if isinstance(value, list):
        return [_nan_to_none(item) for item in value]
    if isinstance(value, float) and not math.isfinite(value):
        return None
    return value
