"""A sequence labeller that fires on a byte pattern at known offsets."""

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

PROLOGUE_PATTERN: tuple[tuple[int, int], ...] = (
    (-1, 0xC3),
    (0, 0x55),
    (1, 0x89),
    (2, 0xE5),
)
"""``(offset, byte)`` pairs: a ``ret`` (0xc3) just before the position, and the x86
prologue ``push ebp; mov ebp, esp`` (0x55 0x89 0xe5) starting at it."""

N_TOKENS = 257
"""Token values: byte + 1 (1..256), and 0 for padding, as the function-start RNN."""


class PlantedSequenceModel(nn.Module):
    """Labels every position of a token sequence: class 1 where the pattern sits.

    Tokens are bytes + 1 (0 = padding), as for
    :class:`~torchxai.models.FunctionStartRNN`. With ``m(t)`` the number of pattern
    pairs ``(o, b)`` whose token ``x[t + o]`` equals ``b + 1`` (positions outside the
    sequence match nothing), the class-1 logit at position t is

    .. math::

        z_t(x) = \\text{scale} \\cdot \\big(m(t) - (|P| - \\tfrac12)\\big)

    so the output at position t depends on the |P| tokens ``x[t + o]`` and on no
    other token: with the default scale 8 it is ``sigmoid(4)`` = 0.98 where the whole
    pattern is present and at most ``sigmoid(-4)`` = 0.02 otherwise.

    Args:
        pattern: ``(offset, byte)`` pairs with distinct offsets and bytes 0..255;
            default :data:`PROLOGUE_PATTERN`.
        scale: the logit's slope.

    Attributes:
        relevant_features: the pattern's offsets, relative to the explained
            position, sorted.
        pattern: the ``(offset, byte)`` pairs, sorted by offset.
    """

    offsets: Tensor
    tokens: Tensor

    def __init__(
        self,
        pattern: Sequence[tuple[int, int]] = PROLOGUE_PATTERN,
        *,
        scale: float = 8.0,
    ) -> None:
        super().__init__()
        self.pattern = _check_pattern(pattern)
        self.scale = check_positive("scale", scale)
        self.relevant_features = tuple(offset for offset, _ in self.pattern)
        self.register_buffer("offsets", torch.tensor(self.relevant_features))
        self.register_buffer(
            "tokens", torch.tensor([byte + 1 for _, byte in self.pattern])
        )

    @property
    def min_length(self) -> int:
        """The shortest sequence that holds the whole pattern around a position."""
        return (
            1 + max(0, self.relevant_features[-1]) + max(0, -self.relevant_features[0])
        )

    def forward(self, tokens: Tensor) -> Tensor:
        """Logits of the two classes at every position.

        Args:
            tokens: (N, L) integer tokens in 0..256.

        Returns:
            (N, L, 2) float32 logits ``(0, z_t)``.
        """
        self._check_tokens(tokens)
        length = tokens.shape[1]
        matches = torch.zeros(tokens.shape, dtype=torch.float32, device=tokens.device)
        for (offset, _), token in zip(self.pattern, self.tokens, strict=True):
            hit = (tokens == token).to(torch.float32)
            if offset >= 0:
                matches[:, : max(length - offset, 0)] += hit[:, offset:]
            else:
                matches[:, -offset:] += hit[:, : max(length + offset, 0)]
        return two_class_logits(self.scale * (matches - (len(self.pattern) - 0.5)))

    def predict_proba(self, tokens: Tensor) -> Tensor:
        """Class probabilities ``softmax(forward(tokens))``, (N, L, 2)."""
        return torch.softmax(self(tokens), dim=-1)

    def relevant_mask(self, tokens: Tensor, positions: Tensor) -> Tensor:
        """The tokens the output at each explained position depends on.

        Args:
            tokens: (N, L) token sequences.
            positions: (N,) int64 explained positions.

        Returns:
            (N, L) bool, True at ``positions + offset`` for every pattern offset
            inside the sequence.
        """
        self._check_tokens(tokens)
        integer = isinstance(positions, Tensor) and not (
            positions.is_floating_point()
            or positions.is_complex()
            or positions.dtype == torch.bool
        )
        if not integer or positions.shape != tokens.shape[:1]:
            raise InvalidInputError(
                f"positions must be an integer tensor of shape ({tokens.shape[0]},); "
                f"got {positions!r}"
            )
        where = positions.to(tokens.device)[:, None] + self.offsets[None, :]
        inside = (where >= 0) & (where < tokens.shape[1])
        mask = torch.zeros(tokens.shape, dtype=torch.bool, device=tokens.device)
        rows = torch.arange(tokens.shape[0], device=tokens.device)[:, None]
        mask[rows.expand_as(where)[inside], where[inside]] = True
        return mask

    def sample(self, n: int, *, length: int = 64, seed: int = 0) -> PlantedSample:
        """Random byte sequences with the pattern planted at one position each.

        Every token is a uniform random byte + 1, then the pattern is written at a
        uniform random position whose whole pattern fits inside the sequence.

        Args:
            n: the number of sequences.
            length: the sequence length L, at least :attr:`min_length`.
            seed: seed of the bytes and positions.

        Returns:
            ``inputs`` (n, L) int64, ``target`` (n, 2) ``(position, 1)``,
            ``relevant`` (n, L), on the model's device.
        """
        count = check_count("n", n, 1)
        length = check_count("length", length, self.min_length)
        gen = generator(seed)
        tokens = torch.randint(1, N_TOKENS, (count, length), generator=gen)
        low = max(0, -self.relevant_features[0])
        high = length - max(0, self.relevant_features[-1])
        positions = torch.randint(low, high, (count,), generator=gen)
        rows = torch.arange(count)
        for offset, byte in self.pattern:
            tokens[rows, positions + offset] = byte + 1
        tokens, positions = (
            tokens.to(self.tokens.device),
            positions.to(self.tokens.device),
        )
        target = torch.stack([positions, torch.ones_like(positions)], dim=1)
        return PlantedSample(tokens, target, self.relevant_mask(tokens, positions))

    def _check_tokens(self, tokens: object) -> None:
        name = type(self).__name__
        if not isinstance(tokens, Tensor):
            raise InvalidInputError(
                f"{name} expects a torch.Tensor of tokens; got {type(tokens).__name__}"
            )
        if tokens.dim() != 2:
            raise InvalidInputError(
                f"{name} expects tokens of shape (N, L); got {tuple(tokens.shape)}"
            )
        if (
            tokens.is_floating_point()
            or tokens.is_complex()
            or tokens.dtype == torch.bool
        ):
            raise InvalidInputError(
                f"{name} expects integer tokens (byte + 1, 0 = padding); got dtype "
                f"{tokens.dtype}"
            )
        check_device(name, tokens, self.tokens)
        if tokens.numel() and (int(tokens.min()) < 0 or int(tokens.max()) >= N_TOKENS):
            raise InvalidInputError(
                f"{name} expects tokens in 0..{N_TOKENS - 1}; got values in "
                f"{int(tokens.min())}..{int(tokens.max())}"
            )


def _check_pattern(pattern: Sequence[tuple[int, int]]) -> tuple[tuple[int, int], ...]:
    """``(offset, byte)`` pairs with distinct offsets and bytes 0..255, sorted."""
    try:
        pairs = [(operator.index(o), operator.index(b)) for o, b in pattern]
    except (TypeError, ValueError):
        pairs = []
    offsets = [o for o, _ in pairs]
    if (
        not pairs
        or len(set(offsets)) != len(offsets)
        or not all(0 <= b <= 255 for _, b in pairs)
    ):
        raise InvalidInputError(
            "pattern must be a non-empty sequence of (offset, byte) pairs with "
            f"distinct integer offsets and bytes in 0..255; got {pattern!r}"
        )
    return tuple(sorted(pairs))
