"""Bayesian global explainers: DMM and DMM-MEN, Dirichlet-process mixture regression.

* :class:`DMMRegression`: truncated stick-breaking DP mixture of linear regressions.
* :class:`DMMMEN`: the same with multiple elastic-net priors (NeurIPS 2018).
* :class:`ElasticNetPrior`: the normalized elastic-net density as a Pyro distribution.
* :func:`explain_global`: fit either to a model's class logit over a set of inputs.
* :func:`bootstrap_fidelity`: the NeurIPS paper's nullification, filling and
  pathological tests of a class explanation.
"""

from __future__ import annotations

from torchxai.bayes.bootstrap_fidelity import (
    BootstrapFidelityResult,
    bootstrap_fidelity,
)
from torchxai.bayes.dmm import DMMRegression
from torchxai.bayes.dmm_men import DMMMEN
from torchxai.bayes.elastic_net import ElasticNetPrior, elastic_net_log_normalizer
from torchxai.bayes.global_explain import (
    GlobalExplanation,
    class_logit,
    explain_global,
    high_variance_features,
)

__all__ = [
    "DMMMEN",
    "BootstrapFidelityResult",
    "DMMRegression",
    "ElasticNetPrior",
    "GlobalExplanation",
    "bootstrap_fidelity",
    "class_logit",
    "elastic_net_log_normalizer",
    "explain_global",
    "high_variance_features",
]
