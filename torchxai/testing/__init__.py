"""Models with planted ground truth, to check that an explainer finds what matters.

Each model here is a small ``torch.nn.Module`` whose output provably depends on a
known set of input elements and on nothing else, so an explanation of it can be
scored against the truth:

* :class:`PlantedTabularModel`: a sparse logistic function of chosen columns of a
  (N, p) input.
* :class:`PlantedSequenceModel`: a per-position labeller of (N, L) byte tokens that
  fires where a byte pattern sits at known offsets from the position (by default a
  ``ret`` followed by the x86 prologue ``push ebp; mov ebp, esp``).
* :class:`PlantedImageModel`: a two-class image classifier decided by the mean of one
  rectangular region.

Like the ported target models (:mod:`torchxai.models`), ``forward`` returns logits
and ``predict_proba`` the softmax, so explain them with ``output="logits"``. Each has
``sample(n, seed=...)`` returning a :class:`PlantedSample`: inputs on which the
planted rule fires, the target to explain, and the mask of the elements that matter.
:func:`top_k_recall` scores an explanation against that mask.

Example:
    >>> import torchxai
    >>> from torchxai.testing import PlantedTabularModel, top_k_recall
    >>> model = PlantedTabularModel(20, relevant=(2, 7, 11))
    >>> sample = model.sample(4, seed=0)
    >>> expl = torchxai.explain(model, sample.inputs, "random", output="logits")
    >>> top_k_recall(expl, sample.relevant).shape
    torch.Size([4])
"""

from __future__ import annotations

from torchxai.testing._sample import PlantedSample
from torchxai.testing.image import PlantedImageModel
from torchxai.testing.recall import top_k_recall
from torchxai.testing.sequence import PROLOGUE_PATTERN, PlantedSequenceModel
from torchxai.testing.tabular import PlantedTabularModel

__all__ = [
    "PROLOGUE_PATTERN",
    "PlantedImageModel",
    "PlantedSample",
    "PlantedSequenceModel",
    "PlantedTabularModel",
    "top_k_recall",
]
