"""``text.explain_generation``: which words of a prompt made a language model say what it
said, in one call."""

from __future__ import annotations

from typing import Any

import torch

from perspicio.core import (
    ImageMaskInput,
    LLMAttribution,
    LLMAttributionResult,
    LLMGradientAttribution,
    TextTemplateInput,
    TextTokenInput,
)
from perspicio.core.frontend import Facts
from perspicio.core.registry import MethodNames, arguments, get_spec, instantiate

from .adapters import embedding_layer, patch_embedding_layer

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
    image: Any = None,
    segments: Any = 4,
    baseline: tuple[int, ...] = (0, 0, 0),
) -> LLMAttributionResult:
    """Explain a language model's continuation of ``prompt`` by the prompt's words or tokens,
    or a vision-language model's by segments of an ``image``.

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
    image : PIL.Image.Image, optional
        An image that goes with the prompt, and ``tokenizer`` is then the model's processor
        (called as ``processor(text=prompt, images=image, return_tensors="pt")``;
        ``prompt`` holds its image token). A perturbation method's features are the image's
        segments; a gradient method goes through the image's pixels (at the vision tower's
        patch embedding, the first convolution) and the prompt's tokens together
        (:mod:`perspicio.core.llm.gradient_image`), the image's baseline painted
        ``baseline``.
    segments : int, tensor or list of tensors, default 4
        The image's segments: an ``n x n`` grid, a mask of segment ids ``(H, W)``, or
        binary masks that may overlap.
    baseline : tuple of int, default (0, 0, 0)
        The colour a removed segment is painted.

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
    if image is not None:
        return _explain_image(
            model,
            tokenizer,
            prompt,
            image,
            target,
            method,
            segments,
            baseline,
            n_samples,
            n_steps,
            gen_args,
            seed,
            show_progress,
        )
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
        inp = TextTokenInput(
            prompt, tokenizer, baselines=pad if isinstance(pad, int) else 0, skip_tokens=skip
        )
        baseline = None
    facts = Facts(
        inp,
        baseline=baseline,
        generator=seed,
        options=options,
        layer=lambda: embedding_layer(model),
    )
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


def grid_segments(height: int, width: int, n: int) -> torch.Tensor:
    """An ``n x n`` grid of segment ids over an ``height x width`` image."""
    rows = torch.arange(height) * n // height
    cols = torch.arange(width) * n // width
    return rows[:, None] * n + cols[None, :]


def _explain_image(
    model,
    processor,
    prompt,
    image,
    target,
    method,
    segments,
    baseline,
    n_samples,
    n_steps,
    gen_args,
    seed,
    show_progress,
) -> LLMAttributionResult:
    """:func:`explain_generation` of a prompt with an image: the image's segments (a
    perturbation method), or its pixels and the prompt's tokens together (a gradient method,
    through the token embeddings and the vision tower's patch embedding)."""
    tokenizer = getattr(processor, "tokenizer", None)
    if not callable(processor) or tokenizer is None:
        raise TypeError(
            "with an `image`, `tokenizer` must be the model's processor (callable with text= "
            f"and images=, with a .tokenizer), got {type(processor).__name__}"
        )
    _check(model, tokenizer, prompt, target, method, None)
    spec = get_spec(method)
    if isinstance(segments, bool) or not isinstance(segments, (int, torch.Tensor, list, tuple)):
        raise TypeError(
            "`segments` must be a grid size, a mask of segment ids or a list of masks, got "
            f"{type(segments).__name__}"
        )
    if isinstance(segments, int):
        if segments < 1:
            raise ValueError(f"`segments` as a grid size must be at least 1, got {segments}")
        segments = grid_segments(image.size[1], image.size[0], segments)
    masks = (
        {"mask_list": list(segments)} if isinstance(segments, (list, tuple)) else {"mask": segments}
    )

    def processor_fn(picture: Any) -> Any:
        return processor(text=prompt, images=picture, return_tensors="pt")

    inp = ImageMaskInput(image, baseline=baseline, processor_fn=processor_fn, **masks)
    if spec.needs_layer:  # through the pixels and the prompt's tokens at once
        facts = Facts(
            inp,
            options={"n_steps": n_steps, "show_progress": show_progress},
            layer=lambda: [embedding_layer(model), patch_embedding_layer(model)],
        )
        kwargs = arguments(spec, facts)
        for name in ("target", "baselines"):  # the continuation; the input's own baseline
            kwargs.pop(name, None)
        attr = LLMGradientAttribution(instantiate(spec, model, facts), tokenizer)
        return attr.attribute(
            inp, target=target, gen_args=gen_args, skip_tokens=_special_ids(tokenizer), **kwargs
        )
    options: dict[str, Any] = {"show_progress": show_progress}
    if n_samples is not None:
        options["n_samples"] = n_samples
    facts = Facts(inp, generator=seed, options=options)
    kwargs = arguments(spec, facts)
    kwargs.pop("target", None)
    attr = LLMAttribution(instantiate(spec, model, facts), tokenizer)
    return attr.attribute(
        inp, target=target, gen_args=gen_args, skip_tokens=_special_ids(tokenizer), **kwargs
    )
