r"""Is a TCAV score meaningful? Compare it with the scores of random concepts.

A CAV learnt from any set of examples, noise included, gives some score; a concept
matters only if its score stands apart from what random concepts get. For random concepts
``r_1 .. r_R``, the concept's score is its mean score against each of them
(experimental sets ``[concept, r_i]``), and each random concept gets the same statistic,
its mean score against the others (``[r_j, r_i]``, ``i != j``). If the concept were just
another random set of examples, its statistic would be exchangeable with the ``R``
random ones, so its rank among them gives the p-value of a Monte Carlo test
(Besag and Clifford, 1989), valid without any assumption on the scores' distribution:

.. math:: p = \frac{1 + \#\{j : t_j \ge t_c\}}{R + 1}\quad(\text{one-sided, "greater"}).

The smallest p-value is ``1 / (R + 1)``: 19 random concepts can reach 0.05.

Kim et al. (2018) instead compare the ``R`` scores of ``[concept, r_i]`` with random-vs-
random scores ``[r_0, r_i]`` by a t-test. Those ``R`` scores all share one concept, so
any two-sample test treats as independent what is one draw of the concept: while this
module was written, that design (with a one-sided permutation test of the means, 10
random concepts) declared a concept drawn exactly like the random ones significant at 5%
in 6 of 10 trials, which is why this module ranks the concept among random concepts.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import torch
from torch import Tensor

from ..errors import AttributionTypeError, AttributionValueError
from .concept import Concept, concepts_to_str
from .tcav import TCAV

ALTERNATIVES = ("two-sided", "greater", "less")
SCORES = ("sign_count", "magnitude")


@dataclass
class Significance:
    """The test of one concept in one layer for one target.

    Attributes
    ----------
    layer : str
    concept : Concept
    scores : Tensor
        The concept's score against each random concept (their mean is its statistic).
    random_scores : Tensor
        Each random concept's mean score against the other random concepts.
    p_value : float
    significant : bool
        ``p_value <= alpha``.
    """

    layer: str
    concept: Concept
    scores: Tensor
    random_scores: Tensor
    p_value: float
    significant: bool

    @property
    def mean(self) -> float:
        """The concept's statistic: its mean score."""
        return float(self.scores.mean())

    @property
    def random_mean(self) -> float:
        """The mean statistic of the random concepts."""
        return float(self.random_scores.mean())


def rank_p_value(statistic: float, null: Tensor, alternative: str) -> float:
    """The Monte Carlo p-value of ``statistic`` among ``null`` draws of it.

    Examples
    --------
    >>> rank_p_value(5.0, torch.arange(19.0) / 10, "greater")
    0.05
    """
    null = null.double().cpu()
    if alternative == "greater":
        extreme = (null >= statistic).sum()
    elif alternative == "less":
        extreme = (null <= statistic).sum()
    else:
        centre = null.mean()
        extreme = ((null - centre).abs() >= abs(statistic - centre)).sum()
    return float(extreme + 1) / (len(null) + 1)


def significance(
    tcav: TCAV,
    inputs: Any,
    concept: Concept,
    random_concepts: list[Concept],
    target: Any = None,
    additional_forward_args: Any = None,
    score: str = "sign_count",
    alpha: float = 0.05,
    alternative: str = "two-sided",
) -> dict[str, Significance]:
    """Test ``concept``'s TCAV score for ``target`` against random concepts, per layer.

    Parameters
    ----------
    tcav : TCAV
        The interpreter (its layers, classifier and stored activations are used; the
        ``R (R - 1) + R`` CAVs are trained once and kept, so testing other targets or
        concepts against the same random concepts reuses them).
    inputs : tensor or tuple
        The examples whose predictions are explained (e.g. images of the target class).
    concept : Concept
    random_concepts : list of Concept
        ``R >= 3`` random concepts; the smallest reachable p-value is ``1 / (R + 1)``.
    target : int, optional
    score : {"sign_count", "magnitude"}
    alpha : float
        Level of the test.
    alternative : {"two-sided", "greater", "less"}
        ``"greater"`` asks whether the concept scores above random concepts.

    Returns
    -------
    dict
        ``{layer: Significance}``.

    Examples
    --------
    >>> import torch
    >>> from perspicio.core.concept import Concept, TCAV
    >>> _ = torch.manual_seed(0)
    >>> net = torch.nn.Sequential(torch.nn.Linear(4, 8), torch.nn.Tanh(), torch.nn.Linear(8, 2))
    >>> high = torch.tensor([3.0, 0, 0, 0])
    >>> concept = Concept(0, "feature 0 high", [torch.randn(30, 4) + high])
    >>> randoms = [Concept(i, f"random{i}", [torch.randn(30, 4)]) for i in range(1, 6)]
    >>> tcav = TCAV(net, ["1"], save_path=None)
    >>> result = significance(tcav, torch.randn(20, 4), concept, randoms, target=1)["1"]
    >>> result.scores.shape, result.random_scores.shape
    (torch.Size([5]), torch.Size([5]))
    """
    if not isinstance(tcav, TCAV):
        raise AttributionTypeError(f"`tcav` must be a TCAV, got {type(tcav).__name__}")
    if not isinstance(concept, Concept):
        raise AttributionTypeError(f"`concept` must be a Concept, got {type(concept).__name__}")
    if not isinstance(random_concepts, (list, tuple)) or len(random_concepts) < 3:
        raise AttributionValueError(
            "`random_concepts` must list at least three random Concepts (19 or more to reach "
            f"p < 0.05), got {random_concepts!r}"
        )
    if any(r is concept for r in random_concepts):
        raise AttributionValueError("`concept` is also one of `random_concepts`")
    for name, value, allowed in (
        ("score", score, SCORES),
        ("alternative", alternative, ALTERNATIVES),
    ):
        if value not in allowed:
            raise AttributionValueError(f"`{name}` must be one of {allowed}, got {value!r}")
    if not 0 < alpha < 1:
        raise AttributionValueError(f"`alpha` must be in (0, 1), got {alpha!r}")
    randoms = list(random_concepts)
    concept_sets = [[concept, r] for r in randoms]
    null_sets = [[a, b] for a in randoms for b in randoms if a is not b]
    scores = tcav.interpret(inputs, concept_sets + null_sets, target, additional_forward_args)
    out = {}
    for layer in tcav.layers:
        first = {k: v[layer][score][0] for k, v in scores.items()}
        own = torch.stack([first[concepts_to_str(s)] for s in concept_sets])
        null = torch.stack(
            [
                torch.stack([first[concepts_to_str([a, b])] for b in randoms if b is not a]).mean()
                for a in randoms
            ]
        )
        p = rank_p_value(float(own.mean()), null, alternative)
        out[layer] = Significance(layer, concept, own, null, p, bool(p <= alpha))
    return out
