"""Explanation-guided patching of the function-start RNN (LEMNA, CCS 2018, 6.3).

Explain each false positive and false negative of a sequence labeller on its test
windows, craft training windows from the explanations' top features, fine-tune a
copy of the model on the training windows plus the crafted ones, and count the
errors again; compare with a control that changes random positions instead.

* :func:`patch_model` -> ``(patched_model, PatchReport)``: one run, any explainer.
* :func:`compare_patching` -> ``(patched_model, PatchComparison)``: LEMNA, the
  random control and reference models (the seed's ``O1_Bi_Rnn_fixed.h5``).
* building blocks: :func:`find_errors`, :func:`count_errors`,
  :func:`craft_samples`, :func:`fine_tune`, :class:`LemnaExplainer`,
  :class:`RandomWindowExplainer`.

``scripts/patch_rnn.py`` runs the whole comparison on the ByteWeight binaries.
"""

from __future__ import annotations

from torchxai.patching.counting import (
    ErrorCounts,
    ErrorSet,
    count_errors,
    find_errors,
    predict_classes,
    select_errors,
)
from torchxai.patching.crafting import (
    CraftedSamples,
    choose_positions,
    craft_samples,
    rank_positions,
)
from torchxai.patching.explainers import (
    Explainer,
    ExplanationLike,
    LemnaExplainer,
    RandomWindowExplainer,
    explain_errors,
)
from torchxai.patching.finetune import fine_tune
from torchxai.patching.patch import (
    PatchComparison,
    PatchOptions,
    PatchReport,
    compare_patching,
    patch_model,
)

__all__ = [
    "CraftedSamples",
    "ErrorCounts",
    "ErrorSet",
    "Explainer",
    "ExplanationLike",
    "LemnaExplainer",
    "PatchComparison",
    "PatchOptions",
    "PatchReport",
    "RandomWindowExplainer",
    "choose_positions",
    "compare_patching",
    "count_errors",
    "craft_samples",
    "explain_errors",
    "find_errors",
    "fine_tune",
    "patch_model",
    "predict_classes",
    "rank_positions",
    "select_errors",
]
