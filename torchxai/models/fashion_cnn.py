"""The Fashion-MNIST CNN of DMM-MEN (Guo et al., NeurIPS 2018), ported from Keras.

The file ``keras/fashion_mnist_cnn.h5`` (Keras 2.0.8, Theano backend,
``data_format="channels_last"``) holds a ``Sequential`` model::

    Conv2D(32, 5x5, padding="same", relu) -> MaxPooling2D(2x2)
    -> Conv2D(64, 5x5, padding="same", relu) -> MaxPooling2D(2x2)
    -> Flatten -> Dense(10, softmax)

Input: a float tensor of shape ``(batch, 28, 28)`` or ``(batch, 1, 28, 28)``,
pixels scaled to ``[0, 1]`` (``uint8 / 255``). Output: logits ``(batch, 10)`` over
the Fashion-MNIST labels (0 T-shirt/top ... 9 Ankle boot).

Two facts of the file decide the port:

* Theano's ``conv2d`` is a true convolution (it flips the kernel), torch's is a
  cross-correlation, so kernels from a file whose ``backend`` is ``"theano"`` are
  flipped in both spatial axes (what Keras's own ``convert_kernel`` does when a
  Theano file is loaded into TensorFlow). Files of other backends are not flipped.
* Keras flattens the channels-last activation ``(h, w, c)``; the port permutes its
  ``(c, h, w)`` activation to ``(h, w, c)`` before flattening, so the dense kernel
  is used as stored.
"""

from __future__ import annotations

import os

import torch
import torch.nn.functional as F
from torch import nn

from torchxai.datasets.fashion_mnist import FASHION_MNIST_CLASSES
from torchxai.models._common import (
    KerasPort,
    finish,
    read_model_file,
    to_parameter,
)
from torchxai.models.keras_h5 import KerasH5File, KerasLayer, read_keras_h5

__all__ = [
    "FASHION_CNN_FILE",
    "FASHION_MNIST_CLASSES",
    "FashionMNISTCNN",
    "load_fashion_cnn",
]

FASHION_CNN_FILE = "keras/fashion_mnist_cnn.h5"


_LAYERS = ("Conv2D", "MaxPooling2D", "Conv2D", "MaxPooling2D", "Flatten", "Dense")
_CONVOLVING_BACKENDS = ("theano",)
_CORRELATING_BACKENDS = ("tensorflow", "cntk")


class FashionMNISTCNN(KerasPort):
    """Two 5x5 conv/relu/max-pool stages (32 and 64 channels) and a dense softmax.

    ``forward(x)`` takes ``x`` of shape ``(batch, 28, 28)`` or ``(batch, 1, 28, 28)``
    (pixels in ``[0, 1]``, the model's dtype and device) and returns logits
    ``(batch, 10)``; ``predict_proba`` returns their softmax.
    """

    image_size = 28
    class_names = FASHION_MNIST_CLASSES

    def __init__(self) -> None:
        super().__init__()
        self.conv1 = nn.Conv2d(1, 32, kernel_size=5, padding=2)
        self.conv2 = nn.Conv2d(32, 64, kernel_size=5, padding=2)
        self.dense = nn.Linear(7 * 7 * 64, 10)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Logits ``(batch, 10)`` for images ``(batch, [1,] 28, 28)`` in ``[0, 1]``."""
        s = self.image_size
        x = self._check_float_input(x, ((s, s), (1, s, s)), "images")
        if x.dim() == 3:
            x = x.unsqueeze(1)
        h = F.max_pool2d(F.relu(self.conv1(x)), 2)
        h = F.max_pool2d(F.relu(self.conv2(h)), 2)
        h = h.permute(0, 2, 3, 1).flatten(1)  # Keras flattens (h, w, c)
        return self.dense(h)

    @classmethod
    def from_keras(cls, h5: KerasH5File) -> FashionMNISTCNN:
        """Build the port from a read Keras file, checking its layers and shapes.

        Raises:
            CorruptFileError: the file's layers, settings or shapes differ, or its
                backend is unknown (the kernel orientation depends on it).
        """
        if h5.backend in _CONVOLVING_BACKENDS:
            flip = True
        elif h5.backend in _CORRELATING_BACKENDS:
            flip = False
        else:
            raise h5.error(
                f"unknown backend {h5.backend!r}: cannot tell whether its "
                "convolution kernels are flipped"
            )
        conv1, pool1, conv2, pool2, _flatten, dense = h5.expect_layers(_LAYERS)
        model = cls()
        for layer, target, n_in in ((conv1, model.conv1, 1), (conv2, model.conv2, 32)):
            _check_conv(h5, layer)
            n_out = target.out_channels
            kernel = h5.weight(layer, "kernel", (5, 5, n_in, n_out))
            bias = h5.weight(layer, "bias", (n_out,))
            kernel = kernel.transpose(
                3, 2, 0, 1
            )  # (kh, kw, in, out) -> (out, in, kh, kw)
            if flip:
                kernel = kernel[:, :, ::-1, ::-1]
            target.weight = to_parameter(kernel)
            target.bias = to_parameter(bias)
        for pool in (pool1, pool2):
            h5.expect_config(pool, "pool_size", [2, 2])
            h5.expect_config(pool, "strides", [2, 2])
            h5.expect_config(pool, "padding", "valid")
            h5.expect_config(pool, "data_format", "channels_last")
        h5.expect_config(dense, "activation", "softmax")
        model.dense.weight = to_parameter(
            h5.weight(dense, "kernel", (7 * 7 * 64, 10)).T
        )
        model.dense.bias = to_parameter(h5.weight(dense, "bias", (10,)))
        model._record_source(h5)
        return model

    @classmethod
    def from_h5(cls, path: str | os.PathLike[str]) -> FashionMNISTCNN:
        """Read ``path`` (a Keras ``.h5`` file) and build the port, in eval mode."""
        model = cls.from_keras(read_keras_h5(path))
        model.eval()
        return model


def _check_conv(h5: KerasH5File, layer: KerasLayer) -> None:
    h5.expect_config(layer, "kernel_size", [5, 5])
    h5.expect_config(layer, "strides", [1, 1])
    h5.expect_config(layer, "dilation_rate", [1, 1])
    h5.expect_config(layer, "padding", "same")
    h5.expect_config(layer, "activation", "relu")
    h5.expect_config(layer, "use_bias", True)
    h5.expect_config(layer, "data_format", "channels_last")


def load_fashion_cnn(
    data_dir: str | os.PathLike[str] | None = None,
    *,
    device: str | torch.device | None = None,
    dtype: torch.dtype | None = None,
) -> FashionMNISTCNN:
    """Load the DMM-MEN Fashion-MNIST CNN from ``keras/fashion_mnist_cnn.h5``.

    Args:
        data_dir: the data directory (default: ``$TORCHXAI_DATA`` or the cache).
        device: where to put the model (default: the CPU).
        dtype: a floating dtype (default: float32, the file's).

    Raises:
        DataFileMissingError: the file is not in the data directory.
        CorruptFileError: the file is not HDF5 or not the expected network.
    """
    model = FashionMNISTCNN.from_keras(read_model_file(FASHION_CNN_FILE, data_dir))
    finish(model, device, dtype)
    return model
