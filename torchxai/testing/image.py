"""An image classifier decided by the mean of one rectangular region."""

from __future__ import annotations

import operator
from collections.abc import Sequence

import torch
from torch import Tensor, nn

from torchxai.errors import InvalidInputError
from torchxai.testing._sample import (
    PlantedSample,
    check_count,
    check_device,
    check_positive,
    generator,
    two_class_logits,
)


class PlantedImageModel(nn.Module):
    """Two classes decided by the mean brightness of one region.

    For an image x (channels, if any, averaged) and the region's pixel set R, the
    class-1 logit is ``z(x) = scale * (mean_{(i, j) in R} x[i, j] - threshold)``, so
    the output depends on the pixels of R and on no other pixel. ``forward`` returns
    the logits ``(0, z)``.

    Args:
        height: the image height H.
        width: the image width W.
        region: ``(top, left, region_height, region_width)`` inside the image; if
            None, a region of ``max(1, H // 3)`` by ``max(1, W // 3)`` pixels at a
            position drawn with ``seed``.
        seed: seed of the drawn region.
        threshold: the region mean where both classes are equally likely.
        scale: the logit's slope.

    Attributes:
        region: ``(top, left, region_height, region_width)``.
        relevant_features: the flat pixel indices ``i * W + j`` of the region,
            sorted.
        mask: (H, W) bool buffer, True inside the region.
    """

    mask: Tensor

    def __init__(
        self,
        height: int = 8,
        width: int = 8,
        region: Sequence[int] | None = None,
        *,
        seed: int = 0,
        threshold: float = 0.5,
        scale: float = 12.0,
    ) -> None:
        super().__init__()
        self.height = check_count("height", height, 1)
        self.width = check_count("width", width, 1)
        self.scale = check_positive("scale", scale)
        if isinstance(threshold, bool) or not isinstance(threshold, int | float):
            raise InvalidInputError(f"threshold must be a number; got {threshold!r}")
        self.threshold = float(threshold)
        if region is None:
            region = _random_region(height, width, generator(seed))
        self.region = _check_region(region, height, width)
        top, left, rows, cols = self.region
        mask = torch.zeros(height, width, dtype=torch.bool)
        mask[top : top + rows, left : left + cols] = True
        self.register_buffer("mask", mask)
        self.relevant_features = tuple(torch.nonzero(mask.flatten()).flatten().tolist())

    def forward(self, x: Tensor) -> Tensor:
        """Logits of the two classes.

        Args:
            x: (N, H, W) or (N, C, H, W) float images.

        Returns:
            (N, 2) logits ``(0, z(x))`` in the dtype of ``x``.
        """
        self._check_images(x)
        top, left, rows, cols = self.region
        patch = x[..., top : top + rows, left : left + cols]
        mean = patch.reshape(x.shape[0], -1).mean(dim=1)
        return two_class_logits(self.scale * (mean - self.threshold))

    def predict_proba(self, x: Tensor) -> Tensor:
        """Class probabilities ``softmax(forward(x))``, (N, 2)."""
        return torch.softmax(self(x), dim=-1)

    def relevant_mask(self, x: Tensor) -> Tensor:
        """The elements of each image that the output depends on.

        Args:
            x: (N, H, W) or (N, C, H, W) images.

        Returns:
            bool with the shape of ``x``, True inside the region (every channel).
        """
        self._check_images(x)
        return self.mask.expand(x.shape).clone()

    def sample(
        self, n: int, *, channels: int | None = None, seed: int = 0
    ) -> PlantedSample:
        """Images of class 1: a bright region on a uniform random background.

        Background pixels are uniform on [0, 1), region pixels uniform on
        [0.75, 1), so the region mean is about 0.875 and switching region pixels to
        0 (the usual baseline) lowers the class-1 probability.

        Args:
            n: the number of images.
            channels: None for (n, H, W) images, else the number C of channels of
                (n, C, H, W) images.
            seed: seed of the pixel values.

        Returns:
            ``inputs`` float32 images, ``target`` (n,) ones, ``relevant`` with the
            inputs' shape, on the model's device.
        """
        count = check_count("n", n, 1)
        shape: tuple[int, ...] = (count, self.height, self.width)
        if channels is not None:
            shape = (
                count,
                check_count("channels", channels, 1),
                self.height,
                self.width,
            )
        gen = generator(seed)
        background = torch.rand(shape, generator=gen)
        bright = 0.75 + 0.25 * torch.rand(shape, generator=gen)
        inputs = torch.where(self.mask.cpu(), bright, background).to(self.mask.device)
        target = torch.ones(count, dtype=torch.int64, device=inputs.device)
        return PlantedSample(inputs, target, self.relevant_mask(inputs))

    def _check_images(self, x: object) -> None:
        name = type(self).__name__
        if not isinstance(x, Tensor):
            raise InvalidInputError(
                f"{name} expects a torch.Tensor; got {type(x).__name__}"
            )
        if x.dim() not in (3, 4) or tuple(x.shape[-2:]) != (self.height, self.width):
            raise InvalidInputError(
                f"{name} expects images of shape (N, {self.height}, {self.width}) or "
                f"(N, C, {self.height}, {self.width}); got {tuple(x.shape)}"
            )
        if not x.is_floating_point():
            raise InvalidInputError(
                f"{name} expects floating-point images; got dtype {x.dtype}"
            )
        check_device(name, x, self.mask)


def _random_region(height: int, width: int, gen: torch.Generator) -> tuple[int, ...]:
    rows, cols = max(1, height // 3), max(1, width // 3)
    top = int(torch.randint(0, height - rows + 1, (1,), generator=gen))
    left = int(torch.randint(0, width - cols + 1, (1,), generator=gen))
    return (top, left, rows, cols)


def _check_region(region: Sequence[int], height: int, width: int) -> tuple[int, ...]:
    """``(top, left, rows, cols)`` of a non-empty rectangle inside the image."""
    try:
        items = list(region)
        values = tuple(operator.index(v) for v in items if not isinstance(v, bool))
        ok = len(values) == len(items) == 4
    except TypeError:
        ok = False
    if ok:
        top, left, rows, cols = values
        ok = rows >= 1 and cols >= 1 and top >= 0 and left >= 0
        ok = ok and top + rows <= height and left + cols <= width
    if not ok:
        raise InvalidInputError(
            "region must be (top, left, region_height, region_width), integers "
            f"describing a non-empty rectangle inside the {height}x{width} image; got "
            f"{region!r}"
        )
    return values
