"""Is a text explanation faithful? ERASER's comprehensiveness and sufficiency (DeYoung et
al., ACL 2020, "ERASER: A benchmark to evaluate rationalized NLP models"), and deletion and
insertion curves over the words (Petsiuk et al., 2018), for :func:`perspicio.text.explain`
results.

A unit (word or token) is removed by replacing its tokens with the tokenizer's mask (or pad)
token; special tokens stay. The explained class's probability is read after each change:

* **comprehensiveness**: :math:`p(y|x) - p(y|x \\setminus r_k)`, the drop when the ``k``
  most relevant units are removed, averaged over ``k`` of 1, 5, 10, 20 and 50% of the units
  (ERASER's AOPC). Higher is better.
* **sufficiency**: :math:`p(y|x) - p(y|r_k)`, the drop when *only* those units are kept,
  averaged the same way. Lower is better. (Named apart from Dasgupta et al.'s sufficiency,
  a different metric.)
* **deletion / insertion**: the area under the probability as units are removed (or put
  back, from all removed) most relevant first. Lower, resp. higher, is better.

A random ranking scores near the middle of each; :func:`random_like` makes one to compare.
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Sequence
from typing import Any

import torch
from torch import Tensor, nn

from perspicio.core.frontend import model_device, preserved_state, prompt_ids, score_stepwise

from .adapters import TextForward
from .explanation import TextExplanation
from .tokens import baseline_ids, encode

#: ERASER's bins: the share of the units in the rationale
ERASER_FRACTIONS = (0.01, 0.05, 0.1, 0.2, 0.5)


def _explanations(explanations: Any) -> list[TextExplanation]:
    items = [explanations] if isinstance(explanations, TextExplanation) else list(explanations)
    if not items or not all(isinstance(e, TextExplanation) for e in items):
        raise TypeError(
            "`explanations` must be a TextExplanation or a list of them (text.explain's "
            f"results), got {type(explanations).__name__}"
        )
    return items


def _units_of_tokens(exp: TextExplanation, offsets: list[tuple[int, int]], special: Tensor):
    """Each token's unit (-1 for special tokens and tokens outside every unit)."""
    owner = torch.full((len(offsets),), -1, dtype=torch.long)
    for j, (start, end) in enumerate(offsets):
        if special[j] or end <= start:
            continue
        for u, (s, e) in enumerate(exp.spans):
            if start < e and end > s:
                owner[j] = u
                break
    return owner


def _variants(
    model: nn.Module, tokenizer: Any, exp: TextExplanation, removed: Tensor, baseline: str
) -> Tensor:
    """The probability of the explained class for each row of ``removed`` (``(R, units)``:
    True where a unit is replaced by the baseline token)."""
    enc = encode(tokenizer, [exp.text], None, None)
    owner = _units_of_tokens(exp, enc.offsets[0], enc.special[0])
    ids = enc.input_ids[0]
    token_gone = torch.zeros(removed.shape[0], ids.shape[0], dtype=torch.bool)
    inside = owner >= 0
    token_gone[:, inside] = removed[:, owner[inside]]
    replaced = baseline_ids(tokenizer, enc, baseline)[0]  # special tokens kept
    batch = torch.where(token_gone, replaced, ids)
    mask = enc.attention_mask[0].expand_as(batch)
    device = model_device(model)
    with preserved_state(model), torch.no_grad():  # eval for the call, the model as found
        model.eval()
        logits = TextForward(model)(batch.to(device), mask.to(device))
    return logits.softmax(-1)[:, exp.target].double().cpu()


def _ranked(exp: TextExplanation) -> Tensor:
    """The units, most relevant first (attribution toward the explained class)."""
    return exp.attributions.detach().double().argsort(descending=True)


def eraser(
    model: nn.Module,
    tokenizer: Any,
    explanations: TextExplanation | Sequence[TextExplanation],
    *,
    fractions: Sequence[float] = ERASER_FRACTIONS,
    baseline: str = "mask",
) -> dict[str, Tensor]:
    """ERASER's comprehensiveness and sufficiency of each explanation.

    Parameters
    ----------
    model, tokenizer
        The explained model and its (fast) tokenizer.
    explanations : TextExplanation or list
        :func:`perspicio.text.explain`'s results.
    fractions : sequence of float
        The rationale sizes, as shares of the units (at least one unit each).
    baseline : {"mask", "pad", "unk"}
        The token a removed unit's tokens become (special tokens stay).

    Returns
    -------
    dict
        ``"comprehensiveness"`` and ``"sufficiency"``, tensors ``(N,)``.

    Examples
    --------
    >>> from perspicio import text
    >>> from perspicio.text.demo import tiny_bert
    >>> model, tokenizer = tiny_bert()
    >>> exp = text.explain(model, tokenizer, "a wonderful film")
    >>> scores = eraser(model, tokenizer, exp)
    >>> bool(scores["comprehensiveness"][0] > scores["sufficiency"][0])
    True
    """
    exps = _explanations(explanations)
    if not fractions or not all(0 < f <= 1 for f in fractions):
        raise ValueError(f"`fractions` must be shares in (0, 1], got {list(fractions)!r}")
    comp, suff = [], []
    for exp in exps:
        n = len(exp.units)
        order = _ranked(exp)
        sizes = [max(1, math.ceil(f * n)) for f in fractions]
        rows = torch.zeros(2 * len(sizes) + 1, n, dtype=torch.bool)
        for i, k in enumerate(sizes):
            rows[1 + i, order[:k]] = True  # the rationale removed
            rows[1 + len(sizes) + i] = True
            rows[1 + len(sizes) + i, order[:k]] = False  # only the rationale kept
        p = _variants(model, tokenizer, exp, rows, baseline)
        comp.append(float((p[0] - p[1 : 1 + len(sizes)]).mean()))
        suff.append(float((p[0] - p[1 + len(sizes) :]).mean()))
    return {
        "comprehensiveness": torch.tensor(comp, dtype=torch.float64),
        "sufficiency": torch.tensor(suff, dtype=torch.float64),
    }


def deletion_insertion(
    model: nn.Module,
    tokenizer: Any,
    explanations: TextExplanation | Sequence[TextExplanation],
    *,
    baseline: str = "mask",
) -> dict[str, Tensor]:
    """The areas under the explained class's probability as units are removed (deletion)
    or put back from all removed (insertion), most relevant first, over the share of units
    changed (trapezoids from 0 to 1).

    Examples
    --------
    >>> from perspicio import text
    >>> from perspicio.text.demo import tiny_bert
    >>> model, tokenizer = tiny_bert()
    >>> exp = text.explain(model, tokenizer, "a dull and boring plot")
    >>> areas = deletion_insertion(model, tokenizer, exp)
    >>> bool(areas["deletion"][0] < areas["insertion"][0])
    True
    """
    exps = _explanations(explanations)
    deletion, insertion = [], []
    for exp in exps:
        n = len(exp.units)
        order = _ranked(exp)
        gone = torch.zeros(n + 1, n, dtype=torch.bool)
        for k in range(1, n + 1):
            gone[k, order[:k]] = True
        back = gone[n : n + 1] & ~gone  # row k: all removed but the first k put back
        p = _variants(model, tokenizer, exp, torch.cat([gone, back]), baseline)
        x = torch.linspace(0, 1, n + 1, dtype=torch.float64)
        deletion.append(float(torch.trapezoid(p[: n + 1], x)))
        insertion.append(float(torch.trapezoid(p[n + 1 :], x)))
    return {
        "deletion": torch.tensor(deletion, dtype=torch.float64),
        "insertion": torch.tensor(insertion, dtype=torch.float64),
    }


def random_like(
    explanation: TextExplanation, generator: torch.Generator | int | None = None
) -> TextExplanation:
    """The explanation with random attributions (a reference a faithful one must beat)."""
    gen = torch.Generator().manual_seed(generator) if isinstance(generator, int) else generator
    values = torch.randn(explanation.attributions.shape, generator=gen, dtype=torch.float64)
    return dataclasses.replace(explanation, attributions=values, method="random (reference)")


@torch.no_grad()
def generation_eraser(
    model: nn.Module,
    tokenizer: Any,
    result: Any,
    *,
    fractions: Sequence[float] = ERASER_FRACTIONS,
) -> dict[str, float]:
    """ERASER's comprehensiveness and sufficiency of an explained generation
    (:func:`perspicio.text.explain_generation`, ``LLMAttribution`` results): the drop in the
    log-probability of the whole target when the prompt's most relevant features (words,
    tokens or template parts, as attributed) are removed, or are all that is kept, averaged
    over ``fractions`` of the features. Features are removed as the attribution removed
    them (the result's own input: its baseline). Higher comprehensiveness, lower
    sufficiency are better.

    Examples
    --------
    >>> from perspicio import text
    >>> from perspicio.text.demo_lm import capital_cities_lm
    >>> lm, tokenizer = capital_cities_lm()
    >>> res = text.explain_generation(lm, tokenizer, "the capital of peru is", target="lima")
    >>> scores = generation_eraser(lm, tokenizer, res)
    >>> scores["comprehensiveness"] > scores["sufficiency"]
    True
    """
    if not fractions or not all(0 < f <= 1 for f in fractions):
        raise ValueError(f"`fractions` must be shares in (0, 1], got {list(fractions)!r}")
    n, order, log_prob = _generation_scorer(model, tokenizer, result)
    full = log_prob(None)
    removed, kept = [], []
    for f in fractions:
        k = max(1, math.ceil(f * n))
        row = torch.ones(1, n)
        row[0, order[:k]] = 0
        removed.append(full - log_prob(row))
        row = torch.zeros(1, n)
        row[0, order[:k]] = 1
        kept.append(full - log_prob(row))
    return {
        "comprehensiveness": sum(removed) / len(removed),
        "sufficiency": sum(kept) / len(kept),
    }


def _generation_scorer(model: nn.Module, tokenizer: Any, result: Any):
    """The number of the prompt's features, their order (most relevant first) and the
    log-probability of the whole target with the features of a 0/1 row kept (all for
    None), removed as the attribution removed them."""
    inp = getattr(result, "inp", None)
    if inp is None or not hasattr(inp, "to_model_input"):
        raise TypeError(
            "`result` must be an explained generation with its input (explain_generation's "
            f"or LLMAttribution's result), got {type(result).__name__}"
        )
    target = torch.tensor(tokenizer.convert_tokens_to_ids(list(result.output_tokens)))
    n = len(result.input_tokens)
    order = torch.as_tensor(result.seq_attr).double().argsort(descending=True)
    empty = getattr(tokenizer, "bos_token_id", None) or getattr(tokenizer, "pad_token_id", 0)

    def log_prob(row: Tensor | None) -> float:
        ids = prompt_ids(inp, tokenizer, row, empty=empty)
        return float(score_stepwise(model, ids, target).sum())

    return n, order, log_prob


@torch.no_grad()
def generation_deletion_insertion(model: nn.Module, tokenizer: Any, result: Any) -> dict:
    """Deletion and insertion curves of an explained generation: the probability of the
    whole target as the prompt's features are removed most relevant first (deletion), or
    put back most relevant first from all removed (insertion), and the areas under them over
    the share of features changed (trapezoids from 0 to 1). Lower deletion, higher
    insertion are better.

    The curves are probabilities, as Petsiuk et al.'s: a log-probability is unbounded below,
    and the area under it is ruled by how low the answer falls once it is gone (measured on
    the demo GPT-2: a ranking that removes the answer's evidence first then scores below
    random ones on some prompts), not by how early it goes.

    Returns
    -------
    dict
        ``"deletion"`` and ``"insertion"`` (the areas, floats) and ``"deletion_curve"``,
        ``"insertion_curve"`` (tensors of ``n + 1`` probabilities).

    Examples
    --------
    >>> from perspicio import text
    >>> from perspicio.text.demo_lm import capital_cities_lm
    >>> lm, tokenizer = capital_cities_lm()
    >>> res = text.explain_generation(lm, tokenizer, "the capital of peru is", target="lima")
    >>> areas = generation_deletion_insertion(lm, tokenizer, res)
    >>> areas["deletion"] < areas["insertion"]
    True
    """
    n, order, log_prob = _generation_scorer(model, tokenizer, result)
    deletion, insertion = [], []
    for k in range(n + 1):
        row = torch.ones(1, n)
        row[0, order[:k]] = 0
        deletion.append(log_prob(row))
        row = torch.zeros(1, n)
        row[0, order[:k]] = 1
        insertion.append(log_prob(row))
    x = torch.linspace(0, 1, n + 1, dtype=torch.float64)
    dc = torch.tensor(deletion, dtype=torch.float64).exp()
    ic = torch.tensor(insertion, dtype=torch.float64).exp()
    return {
        "deletion": float(torch.trapezoid(dc, x)),
        "insertion": float(torch.trapezoid(ic, x)),
        "deletion_curve": dc,
        "insertion_curve": ic,
    }
