"""``text.explain_generation``: which words of a prompt made a language model say what it
said, in one call."""

from __future__ import annotations

from typing import Any

import torch

from perspicio.core import (
    LLMAttribution,
    LLMAttributionResult,
    LLMGradientAttribution,
    TextTemplateInput,
    TextTokenInput,
)
from perspicio.core._facts import Facts
from perspicio.core.registry import MethodNames, arguments, get_spec, instantiate

from .adapters import embedding_layer

#: The methods offered for generation (a live view of the registry: the specs that say
#: ``generation``): perturbation methods over the prompt's words (or tokens), and layer
#: methods at the token embeddings. How each is called is its spec's.
GENERATION_METHODS = MethodNames(lambda spec: spec.generation)


def _special_ids(tokenizer: Any) -> list[int]:
    ids = getattr(tokenizer, "all_special_ids", None)
    return list(ids) if ids else []


def explain_generation(
    model: Any,
    tokenizer: Any,
    prompt: str,
    target: str | None = None,
    method: str = "feature_ablation",
    granularity: str | None = None,
    n_samples: int | None = None,
    n_steps: int = 32,
    gen_args: dict | None = None,
    seed: int = 0,
    show_progress: bool = False,
) -> LLMAttributionResult:
    """Explain a language model's continuation of ``prompt`` by the prompt's words or tokens.

    Parameters
    ----------
    model : causal language model
        A Hugging Face ``AutoModelForCausalLM`` (or any module mapping token ids to logits).
    tokenizer : tokenizer
        Its tokenizer.
    prompt : str
        The prompt.
    target : str, optional
        The continuation to explain; generated greedily (``gen_args``) when None.
    method : str, default "feature_ablation"
        One of :data:`GENERATION_METHODS`: the perturbation methods remove words (or set
        tokens to padding); the gradient methods work on the token embeddings.
    granularity : {"word", "token"}, optional
        Features: whitespace-separated words (perturbation methods' default) or tokens
        (gradient methods' only choice). Special tokens (``<bos>``) are never features.
    n_samples : int, optional
        Samples of the sampling methods (25 for Shapley sampling, 200 for Lime/KernelShap).
    n_steps : int, default 32
        Integration steps of LayerIntegratedGradients.
    seed : int, default 0
        Seed of the sampling methods.

    Returns
    -------
    LLMAttributionResult
        ``seq_attr`` per feature, ``token_attr`` per generated token (not for Lime and
        KernelShap), ``plot_token_attr()``, ``plot_seq_attr()`` and an HTML view.

    Examples
    --------
    >>> from perspicio.text import explain_generation
    >>> from perspicio.core.llm.demo import toy_language_model
    >>> model, tokenizer = toy_language_model()        # copies the word after "say"
    >>> res = explain_generation(model, tokenizer, "say blue then red", target="blue")
    >>> res.input_tokens, int(res.seq_attr.argmax())
    (['say', 'blue', 'then', 'red'], 1)
    """
    _check(model, tokenizer, prompt, target, method, granularity)
    skip = _special_ids(tokenizer)
    spec = get_spec(method)
    pad = getattr(tokenizer, "pad_token_id", None)
    options: dict[str, Any] = {"n_steps": n_steps, "show_progress": show_progress}
    if n_samples is not None:
        options["n_samples"] = n_samples
    if spec.needs_layer:  # a layer method: at the token embeddings, per token
        if granularity not in (None, "token"):
            raise ValueError(
                f"`granularity` {granularity!r}: gradient methods attribute tokens; pass "
                "granularity='token' or a perturbation method for words"
            )
        inp = TextTokenInput(prompt, tokenizer, skip_tokens=skip)
        baseline = torch.full((1, inp.n_itp_features), pad) if isinstance(pad, int) else None
    elif granularity in (None, "word"):
        words = prompt.split()
        inp, baseline = TextTemplateInput(" ".join(["{}"] * len(words)), words), None
    else:
        inp = TextTokenInput(prompt, tokenizer, baselines=pad if isinstance(pad, int) else 0,
                             skip_tokens=skip)  # fmt: skip
        baseline = None
    facts = Facts(inp, baseline=baseline, generator=seed, options=options,
                  layer=lambda: embedding_layer(model))  # fmt: skip
    kwargs = arguments(spec, facts)
    kwargs.pop("target", None)  # the generation's target is the continuation
    wrapper = LLMGradientAttribution if spec.needs_layer else LLMAttribution
    attr = wrapper(instantiate(spec, model, facts), tokenizer)
    return attr.attribute(inp, target=target, gen_args=gen_args, skip_tokens=skip, **kwargs)


def _check(model, tokenizer, prompt, target, method, granularity) -> None:
    if not callable(model):
        raise TypeError(f"`model` must be a causal language model, got {type(model).__name__}")
    if tokenizer is None or not hasattr(tokenizer, "encode"):
        raise TypeError(f"`tokenizer` must have an `encode` method, got {type(tokenizer).__name__}")
    if not isinstance(prompt, str):
        raise TypeError(f"`prompt` must be a str, got {type(prompt).__name__}")
    if not prompt.strip():
        raise ValueError("`prompt` is empty: there is nothing to explain")
    if target is not None and not isinstance(target, str):
        raise TypeError(f"`target` must be a str or None, got {type(target).__name__}")
    if method not in GENERATION_METHODS:
        raise ValueError(f"`method` {method!r} is not one of {tuple(GENERATION_METHODS)}")
    if granularity not in (None, "word", "token"):
        raise ValueError(f"`granularity` must be 'word' or 'token', got {granularity!r}")
