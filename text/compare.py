"""Which text explanation should I trust? Methods scored side by side with the text metrics.

:func:`compare` explains texts with each method (:func:`perspicio.text.explain`) and scores
the explanations with ERASER's comprehensiveness and sufficiency and the deletion and
insertion areas over the words; :func:`compare_generation` does the same for explained
generations (:func:`perspicio.text.explain_generation`), on the (log-)probability of the
target. Both return :func:`perspicio.core.metrics.compare_methods`' table (means, spreads,
directions, the columns a reference wins) with a random and a constant explanation as
references, so :func:`~perspicio.core.metrics.comparison_html` and
:func:`~perspicio.core.metrics.plot_comparison` render it.

The metrics are registered in the metric registry (``needs`` a tokenizer; modality
``tokens`` or ``generation``) when :mod:`perspicio.text` is imported.
"""

from __future__ import annotations

import copy
import dataclasses
from collections.abc import Sequence
from typing import Any

import torch
from torch import Tensor, nn

from perspicio.core.metrics import REFERENCES, comparison_table
from perspicio.core.registry import METRICS, MetricSpec, Scoring, defaults, register

from . import metrics as M
from .explain import explain
from .explanation import TextExplanation
from .generation import explain_generation

_TEXT = frozenset({"model", "tokenizer"})


def _per_result(values: list[float]) -> Tensor:
    return torch.tensor(values, dtype=torch.float64)


def _eraser(key: str, s: Scoring) -> Tensor:
    return M.eraser(s.model, s.tokenizer, s.attributions)[key]


def _curve(key: str, s: Scoring) -> Tensor:
    return M.deletion_insertion(s.model, s.tokenizer, s.attributions)[key]


def _generation_eraser(key: str, s: Scoring) -> Tensor:
    return _per_result([M.generation_eraser(s.model, s.tokenizer, r)[key] for r in s.attributions])


def _generation_curve(key: str, s: Scoring) -> Tensor:
    return _per_result(
        [M.generation_deletion_insertion(s.model, s.tokenizer, r)[key] for r in s.attributions]
    )


def _spec(name: str, function, score, higher: bool, modality: str) -> MetricSpec:
    return MetricSpec(
        name, function, score, higher, "faithfulness", _TEXT, modalities=frozenset({modality})
    )


#: the text front end's metrics: (name, function, score, higher is better, modality)
TEXT_METRICS: tuple[MetricSpec, ...] = (
    _spec("comprehensiveness", M.eraser, lambda s: _eraser("comprehensiveness", s), True, "tokens"),
    _spec("eraser_sufficiency", M.eraser, lambda s: _eraser("sufficiency", s), False, "tokens"),
    _spec(
        "token_deletion_auc", M.deletion_insertion, lambda s: _curve("deletion", s), False, "tokens"
    ),
    _spec(
        "token_insertion_auc",
        M.deletion_insertion,
        lambda s: _curve("insertion", s),
        True,
        "tokens",
    ),
    _spec(
        "generation_comprehensiveness",
        M.generation_eraser,
        lambda s: _generation_eraser("comprehensiveness", s),
        True,
        "generation",
    ),
    _spec(
        "generation_sufficiency",
        M.generation_eraser,
        lambda s: _generation_eraser("sufficiency", s),
        False,
        "generation",
    ),
    _spec(
        "generation_deletion_auc",
        M.generation_deletion_insertion,
        lambda s: _generation_curve("deletion", s),
        False,
        "generation",
    ),
    _spec(
        "generation_insertion_auc",
        M.generation_deletion_insertion,
        lambda s: _generation_curve("insertion", s),
        True,
        "generation",
    ),
)

for _spec_entry in TEXT_METRICS:
    if METRICS.get(_spec_entry.name) is None:
        register(_spec_entry)


def _metric_names(metrics: Sequence[str] | None, modality: str) -> list[str]:
    mine = [s.name for s in TEXT_METRICS if modality in s.modalities]
    if metrics is None:
        return mine
    if isinstance(metrics, str):
        raise TypeError(f"`metrics` must be a sequence of metric names, got the str {metrics!r}")
    unknown = [m for m in metrics if m not in mine]
    if unknown:
        raise ValueError(f"`metrics`: unknown for {modality} {unknown}; known: {mine}")
    return list(metrics)


def _method_names(methods: Sequence[str], known: Sequence[str]) -> list[str]:
    if isinstance(methods, str) or not methods:
        raise TypeError(f"`methods` must be a non-empty sequence of names, got {methods!r}")
    unknown = [m for m in methods if m not in known]
    if unknown:
        raise ValueError(f"`methods`: unknown {unknown}; known: {list(known)}")
    return list(methods)


def score_explanations(
    model: nn.Module,
    tokenizer: Any,
    explained: dict[str, Any],
    metrics: Sequence[str] | None = None,
    *,
    seed: int = 0,
):
    """Score explanations made already (``{label: TextExplanation or list of them}``, or
    explained generations) with the text metrics, beside a random and a constant
    explanation of the first label's inputs; the table of :func:`compare`.

    Examples
    --------
    >>> from perspicio import text
    >>> from perspicio.text.demo import tiny_bert
    >>> model, tokenizer = tiny_bert()
    >>> exp = text.explain(model, tokenizer, "a wonderful film")
    >>> table = text.score_explanations(model, tokenizer, {"ig": exp},
    ...                                 metrics=["comprehensiveness"])
    >>> table.shape
    (3, 1)
    """
    if not isinstance(explained, dict) or not explained:
        raise TypeError(
            "`explained` must be a non-empty dict {label: explanations}, got "
            f"{type(explained).__name__}"
        )
    rows = {k: (v if isinstance(v, list) else [v]) for k, v in explained.items()}
    first = next(iter(rows.values()))
    generation = not isinstance(first[0], TextExplanation)
    wanted = _metric_names(metrics, "generation" if generation else "tokens")
    gen = torch.Generator().manual_seed(seed)
    if generation:
        rows[REFERENCES[0]] = [
            _reference_generation(
                r,
                torch.randn(len(r.input_tokens), generator=gen, dtype=torch.float64),
                REFERENCES[0],
            )
            for r in first
        ]
        rows[REFERENCES[1]] = [
            _reference_generation(
                r, torch.ones(len(r.input_tokens), dtype=torch.float64), REFERENCES[1]
            )
            for r in first
        ]
    else:
        rows[REFERENCES[0]] = [M.random_like(e, gen) for e in first]
        rows[REFERENCES[1]] = [
            dataclasses.replace(
                e, attributions=torch.ones_like(e.attributions), method=REFERENCES[1]
            )
            for e in first
        ]
    scores = {}
    for label, results in rows.items():
        s = Scoring(model, None, results, tokenizer=tokenizer)
        scores[label] = {m: METRICS[m].score(s) for m in wanted}
    return comparison_table(scores)


def compare(
    model: nn.Module,
    tokenizer: Any,
    texts: str | Sequence[str],
    methods: Sequence[str] | None = None,
    metrics: Sequence[str] | None = None,
    *,
    target: Any = None,
    seed: int = 0,
    **explain_kwargs: Any,
):
    """Explain ``texts`` with each method and score the explanations; a random and a
    constant explanation are scored as references.

    Parameters
    ----------
    model, tokenizer
        The text classifier and its fast tokenizer.
    texts : str or list of str
    methods : sequence of str, optional
        Names from :data:`perspicio.text.METHODS`; by default the registry's for
        ``"text_compare"`` (a gradient and a perturbation method).
    metrics : sequence of str, optional
        From ``comprehensiveness``, ``eraser_sufficiency``, ``token_deletion_auc``,
        ``token_insertion_auc`` (all by default).
    target : optional
        As :func:`perspicio.text.explain`'s (the predicted label by default).
    seed : int
        The seed of the sampling methods and of the random reference.
    **explain_kwargs
        Passed to :func:`perspicio.text.explain` (``granularity``, ``baseline``...).

    Returns
    -------
    pandas.DataFrame
        Methods (and references) by metrics, with ``attrs`` as
        :func:`perspicio.core.metrics.compare_methods`.

    Examples
    --------
    >>> from perspicio import text
    >>> from perspicio.text.demo import tiny_bert
    >>> model, tokenizer = tiny_bert()
    >>> table = text.compare(model, tokenizer, ["a wonderful film", "a dull plot"],
    ...                      methods=["layer_integrated_gradients"])
    >>> list(table.index)
    ['layer_integrated_gradients', 'random (reference)', 'constant (reference)']
    """
    from .explain import METHODS

    names = _method_names(defaults("text_compare") if methods is None else methods, list(METHODS))
    wanted = _metric_names(metrics, "tokens")
    batch = [texts] if isinstance(texts, str) else list(texts)
    explained: dict[str, list[TextExplanation]] = {}
    for name in names:
        out = explain(
            model, tokenizer, batch, target=target, method=name, seed=seed, **explain_kwargs
        )
        explained[name] = out if isinstance(out, list) else [out]
    return score_explanations(model, tokenizer, explained, wanted, seed=seed)


def _reference_generation(result: Any, values: Tensor, label: str) -> Any:
    out = copy.copy(result)
    out.seq_attr = values
    out.token_attr = None
    out.method = label
    return out


def compare_generation(
    model: nn.Module,
    tokenizer: Any,
    prompts: str | Sequence[str],
    targets: str | Sequence[str],
    methods: Sequence[str] | None = None,
    metrics: Sequence[str] | None = None,
    *,
    seed: int = 0,
    **explain_kwargs: Any,
):
    """Explain each prompt's ``target`` continuation with each method and score the
    explanations on the target's (log-)probability; a random and a constant explanation are
    scored as references.

    Parameters
    ----------
    model, tokenizer
        A causal language model and its tokenizer.
    prompts, targets : str or list of str
        One target per prompt.
    methods : sequence of str, optional
        Names from :data:`perspicio.text.GENERATION_METHODS`; by default the registry's
        for ``"generation_compare"``.
    metrics : sequence of str, optional
        From ``generation_comprehensiveness``, ``generation_sufficiency``,
        ``generation_deletion_auc``, ``generation_insertion_auc`` (all by default).
    seed : int
        The seed of the sampling methods and of the random reference.
    **explain_kwargs
        Passed to :func:`perspicio.text.explain_generation`.

    Examples
    --------
    >>> from perspicio import text
    >>> from perspicio.text.demo_lm import capital_cities_lm
    >>> lm, tokenizer = capital_cities_lm()
    >>> table = text.compare_generation(lm, tokenizer, "the capital of peru is", "lima",
    ...                                 methods=["feature_ablation"],
    ...                                 metrics=["generation_comprehensiveness"])
    >>> table.attrs["higher_is_better"]
    {'generation_comprehensiveness': True}
    """
    from .generation import GENERATION_METHODS

    names = _method_names(
        defaults("generation_compare") if methods is None else methods, list(GENERATION_METHODS)
    )
    wanted = _metric_names(metrics, "generation")
    prompt_list = [prompts] if isinstance(prompts, str) else list(prompts)
    target_list = [targets] if isinstance(targets, str) else list(targets)
    if len(prompt_list) != len(target_list):
        raise ValueError(
            f"`targets` must hold one target per prompt ({len(prompt_list)}), got "
            f"{len(target_list)}"
        )
    explained: dict[str, list] = {}
    for name in names:
        explained[name] = [
            explain_generation(model, tokenizer, p, t, method=name, seed=seed, **explain_kwargs)
            for p, t in zip(prompt_list, target_list)
        ]
    return score_explanations(model, tokenizer, explained, wanted, seed=seed)
