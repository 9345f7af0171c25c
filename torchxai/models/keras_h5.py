"""Read the weights and configuration of a Keras 2 ``.h5`` model file with h5py.

The target models of the original work were saved with ``model.save`` by Keras 2.0.8
(Theano backend) and Keras 2.2.4 (TensorFlow backend). Such a file holds:

* root attributes ``keras_version``, ``backend`` and ``model_config`` (JSON: the
  layer list of a ``Sequential`` model: a plain list in Keras 2.0, a dict with a
  ``"layers"`` list in Keras 2.2);
* a group ``model_weights`` (or, for files written by ``save_weights``, the root)
  whose attribute ``layer_names`` lists the layers, each a group whose attribute
  ``weight_names`` lists its arrays as paths such as ``"dense_1/kernel"`` or, with
  TensorFlow, ``"bidirectional_1/forward_simple_rnn_1/kernel:0"``.

:func:`read_keras_h5` reads all of that into a :class:`KerasH5File`, without Keras.
Weight names are shortened to what follows the layer name, without the ``:0``
suffix (``"kernel"``, ``"forward_simple_rnn_1/bias"``). Anything missing or
malformed raises :class:`~torchxai.errors.CorruptFileError` naming the file and what
was wrong.
"""

from __future__ import annotations

import json
import os
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import h5py
import numpy as np

from torchxai.errors import CorruptFileError, DataFileMissingError

__all__ = ["KerasH5File", "KerasLayer", "read_keras_h5"]


def _text(value: Any) -> str:
    """An HDF5 string attribute as ``str`` (h5py gives ``bytes`` or ``str``)."""
    if isinstance(value, bytes):
        return value.decode("utf-8")
    if isinstance(value, np.bytes_):
        return bytes(value).decode("utf-8")
    return str(value)


def _short_weight_name(layer: str, full: str) -> str:
    """``"dense_1/kernel:0"`` -> ``"kernel"``; keeps inner paths of wrapper layers."""
    name = full[: -len(":0")] if full.endswith(":0") else full
    prefix = layer + "/"
    return name[len(prefix) :] if name.startswith(prefix) else name


@dataclass(frozen=True)
class KerasLayer:
    """One layer of a Keras ``Sequential`` model: its config and its weight arrays.

    Attributes:
        name: the layer name (``"dense_1"``).
        class_name: the Keras class (``"Dense"``, ``"Conv2D"``, ``"Bidirectional"``).
        config: the layer's ``config`` dict from ``model_config``.
        weights: short weight name (``"kernel"``) -> float array, as stored.
    """

    name: str
    class_name: str
    config: dict[str, Any]
    weights: dict[str, np.ndarray] = field(default_factory=dict)


@dataclass(frozen=True)
class KerasH5File:
    """The content of a Keras 2 model file that a port needs.

    Attributes:
        path: the file read.
        keras_version: the ``keras_version`` attribute (``"2.0.8"``).
        backend: the ``backend`` attribute (``"theano"``, ``"tensorflow"``).
        layers: the layers of the model, in ``model_config`` order.
    """

    path: Path
    keras_version: str
    backend: str
    layers: tuple[KerasLayer, ...]

    def error(self, what: str) -> CorruptFileError:
        """A :class:`CorruptFileError` naming this file."""
        return CorruptFileError(f"Keras model file {self.path}: {what}")

    def expect_layers(self, class_names: Sequence[str]) -> tuple[KerasLayer, ...]:
        """Check the model's layer classes, in order, and return the layers.

        Raises:
            CorruptFileError: the layer list differs from ``class_names``.
        """
        found = [layer.class_name for layer in self.layers]
        if found != list(class_names):
            raise self.error(
                f"expected the layers {list(class_names)} in model_config, "
                f"found {found}"
            )
        return self.layers

    def expect_config(self, layer: KerasLayer, key: str, expected: Any) -> Any:
        """Check one entry of a layer's config (a missing key counts as wrong).

        Raises:
            CorruptFileError: the entry is missing or differs from ``expected``.
        """
        value = layer.config.get(key, "<missing>")
        if isinstance(expected, (tuple, list)) and isinstance(value, (tuple, list)):
            same = list(value) == list(expected)
        else:
            same = value == expected
        if not same:
            raise self.error(
                f"layer {layer.name!r} ({layer.class_name}) has {key}={value!r}, "
                f"this port implements {key}={expected!r}"
            )
        return value

    def weight(
        self, layer: KerasLayer, name: str, shape: tuple[int, ...]
    ) -> np.ndarray:
        """Return weight ``name`` of ``layer`` as float64, checking its shape.

        Raises:
            CorruptFileError: the weight is missing or has another shape.
        """
        if name not in layer.weights:
            raise self.error(
                f"layer {layer.name!r} lacks the weight {name!r} "
                f"(it has {sorted(layer.weights)})"
            )
        array = layer.weights[name]
        if tuple(array.shape) != tuple(shape):
            raise self.error(
                f"weight {name!r} of layer {layer.name!r} has shape "
                f"{tuple(array.shape)}, expected {tuple(shape)}"
            )
        if not np.issubdtype(array.dtype, np.floating):
            raise self.error(
                f"weight {name!r} of layer {layer.name!r} has dtype {array.dtype}, "
                "expected a float type"
            )
        if not np.all(np.isfinite(array)):
            raise self.error(f"weight {name!r} of layer {layer.name!r} is not finite")
        return np.asarray(array, dtype=np.float64)


def _layer_configs(raw: Any, path: Path) -> list[dict[str, Any]]:
    """The layer list of a ``Sequential`` ``model_config`` (Keras 2.0 or 2.2)."""
    if not isinstance(raw, dict) or raw.get("class_name") != "Sequential":
        kind = raw.get("class_name") if isinstance(raw, dict) else type(raw).__name__
        raise CorruptFileError(
            f"Keras model file {path}: model_config describes {kind!r}, "
            "expected a Sequential model"
        )
    config = raw.get("config")
    if isinstance(config, dict):  # Keras >= 2.2: {"name": ..., "layers": [...]}
        config = config.get("layers")
    if not isinstance(config, list) or not all(
        isinstance(c, dict) and "class_name" in c and isinstance(c.get("config"), dict)
        for c in config
    ):
        raise CorruptFileError(
            f"Keras model file {path}: model_config has no readable layer list"
        )
    return config


def read_keras_h5(path: str | os.PathLike[str]) -> KerasH5File:
    """Read a Keras 2 ``Sequential`` model file (config and weights) with h5py.

    Args:
        path: the ``.h5`` file.

    Returns:
        The file's Keras version, backend and layers (config and weight arrays).

    Raises:
        DataFileMissingError: there is no file at ``path``.
        CorruptFileError: the file is not HDF5, lacks ``model_config`` or the
            weight groups, a layer of the config has no weight group, or h5py
            fails while reading a damaged interior.
    """
    path = Path(path)
    if not path.is_file():
        raise DataFileMissingError(f"Keras model file {path} does not exist")
    try:
        handle = h5py.File(path, "r")
    except OSError as exc:
        raise CorruptFileError(
            f"Keras model file {path} is not a readable HDF5 file ({exc})"
        ) from exc
    with handle as h5:
        try:
            return _read_open_file(h5, path)
        except CorruptFileError:
            raise
        except (OSError, KeyError, ValueError, TypeError, RuntimeError) as exc:
            # h5py raises these when the file's interior (object headers, B-trees,
            # heaps) is damaged even though the superblock opened fine.
            raise CorruptFileError(
                f"Keras model file {path} is damaged: reading it failed "
                f"({type(exc).__name__}: {exc})"
            ) from exc


def _read_open_file(h5: h5py.File, path: Path) -> KerasH5File:
    """The content of the open Keras file ``h5`` (see :func:`read_keras_h5`)."""
    attrs = h5.attrs
    if "model_config" not in attrs:
        raise CorruptFileError(
            f"Keras model file {path}: no 'model_config' attribute "
            "(not a file written by Keras model.save)"
        )
    try:
        raw_config = json.loads(_text(attrs["model_config"]))
    except (ValueError, UnicodeDecodeError) as exc:
        raise CorruptFileError(
            f"Keras model file {path}: 'model_config' is not valid JSON ({exc})"
        ) from exc
    configs = _layer_configs(raw_config, path)
    group = h5["model_weights"] if "model_weights" in h5 else h5
    if not isinstance(group, h5py.Group) or "layer_names" not in group.attrs:
        raise CorruptFileError(
            f"Keras model file {path}: no 'model_weights' group with 'layer_names'"
        )
    stored = {_text(n) for n in group.attrs["layer_names"]}
    keras_version = _text(
        attrs.get("keras_version", group.attrs.get("keras_version", "unknown"))
    )
    backend = _text(attrs.get("backend", group.attrs.get("backend", "unknown")))

    layers = []
    for entry in configs:
        config = entry["config"]
        name = str(config.get("name", ""))
        if name not in stored or name not in group:
            raise CorruptFileError(
                f"Keras model file {path}: layer {name!r} of model_config has no "
                f"weight group in 'model_weights' (stored: {sorted(stored)})"
            )
        layer_group = group[name]
        weights: dict[str, np.ndarray] = {}
        for full in layer_group.attrs.get("weight_names", []):
            full_name = _text(full)
            if full_name not in layer_group:
                raise CorruptFileError(
                    f"Keras model file {path}: weight {full_name!r} of layer "
                    f"{name!r} is listed but not stored"
                )
            dataset = layer_group[full_name]
            if not isinstance(dataset, h5py.Dataset):
                raise CorruptFileError(
                    f"Keras model file {path}: weight {full_name!r} of layer "
                    f"{name!r} is not an array"
                )
            weights[_short_weight_name(name, full_name)] = np.asarray(dataset[()])
        layers.append(
            KerasLayer(
                name=name,
                class_name=str(entry["class_name"]),
                config=config,
                weights=weights,
            )
        )
    return KerasH5File(
        path=path, keras_version=keras_version, backend=backend, layers=tuple(layers)
    )
