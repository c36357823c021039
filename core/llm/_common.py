"""Machinery shared by the text-generation attribution classes: targets, generation, seeds."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import torch
from torch import Tensor

from ..attribution import Attribution
from ..errors import AttributionTypeError, AttributionValueError
from .inputs import InterpretableInput
from .scoring import model_device

#: greedy decoding of up to 25 tokens when no target is given (as Captum)
DEFAULT_GEN_ARGS: dict[str, Any] = {
    "max_new_tokens": 25,
    "do_sample": False,
    "temperature": None,
    "top_p": None,
}


class GenerationAttribution(Attribution):
    """What the text-generation classes share: the method they wrap (built on the language
    model; neither is modified), the tokenizer, the attribution target, and how the
    last call scored prompts (``scoring``: "one pass", "stepwise" or "remote")."""

    #: what ``attr_target`` may name
    TARGET_KINDS: tuple[str, ...] = ("log_prob", "prob")

    def __init__(self, attr_method: Attribution, tokenizer: Any, attr_target: str) -> None:
        self.check_method(attr_method)
        check_target_kind(attr_target, tokenizer, self.TARGET_KINDS)
        super().__init__(attr_method.forward_func)
        self.attr_method = attr_method
        self.model = attr_method.forward_func
        self.tokenizer = tokenizer
        self.attr_target = attr_target

    def provenance(self) -> dict[str, Any]:
        """What a result states of its making: the method and the model (fingerprinted
        when a manifest asks, not on every call: a language model's weights are large)."""
        return {"method": type(self.attr_method).__name__, "model": self.model}
        self.scoring: str | None = None

    def check_method(self, attr_method: Any) -> None:
        """Raise a ``TypeError`` for a method this class cannot wrap."""
        raise NotImplementedError


def check_target_kind(
    attr_target: str, tokenizer: Any, kinds: tuple[str, ...] = ("log_prob", "prob")
) -> None:
    """``attr_target`` and ``tokenizer`` of the text-generation attribution classes."""
    if attr_target not in kinds:
        raise AttributionValueError(f"`attr_target` must be one of {kinds}, got {attr_target!r}")
    if tokenizer is None or not hasattr(tokenizer, "encode"):
        raise AttributionTypeError(
            f"`tokenizer` must have an `encode` method, got {type(tokenizer).__name__}"
        )


def check_input(inp: Any, allowed: tuple[type, ...], owner: str) -> None:
    if isinstance(inp, str):
        raise AttributionTypeError(
            f"{owner}: `inp` is a plain string; wrap it as TextTokenInput(text, tokenizer) "
            "(a feature per token) or TextTemplateInput(template, values) (a feature per slot)"
        )
    if not isinstance(inp, allowed):
        names = " or ".join(c.__name__ for c in allowed)
        raise AttributionTypeError(f"{owner}: `inp` must be a {names}, got {type(inp).__name__}")


def skip_ids(tokenizer: Any, skip_tokens: Sequence[int] | Sequence[str] | None) -> list[int]:
    return [
        tokenizer.convert_tokens_to_ids(s) if isinstance(s, str) else int(s)
        for s in (skip_tokens or [])
    ]


def is_processed(inp: InterpretableInput) -> bool:
    """Whether the input gives the model a processor's output (a mapping with
    ``input_ids``, e.g. an image and its prompt) rather than a prompt string or ids."""
    return isinstance(inp.to_model_input(), Mapping)


def generation_input(inp: InterpretableInput, tokenizer: Any) -> Tensor | Mapping:
    """What ``model.generate`` continues: the processor's output, or the prompt's ids."""
    return inp.to_model_input() if is_processed(inp) else prompt_ids(inp, tokenizer)


def prompt_ids(
    inp: InterpretableInput, tokenizer: Any, row: Tensor | None = None, empty: int | None = None
) -> Tensor:
    """The model's token ids ``(L,)`` for the input (perturbed by ``row``).

    A perturbation that leaves no token at all (every word removed, with a tokenizer that
    adds no beginning-of-sequence token) becomes the single token ``empty``: a causal model
    needs one position to predict the first target token from."""
    model_inp = inp.to_model_input(row)
    if isinstance(model_inp, Mapping):
        model_inp = model_inp["input_ids"]
    if isinstance(model_inp, str):
        ids = torch.as_tensor(tokenizer.encode(model_inp, return_tensors="pt"))
    else:
        ids = torch.as_tensor(model_inp)
    ids = ids.reshape(-1).long()
    if ids.numel() == 0:
        if empty is not None and row is not None:
            return torch.tensor([empty])
        raise AttributionValueError(
            "the prompt encodes to no tokens: nothing for the model to read"
        )
    return ids


def prompt_text(inp: InterpretableInput, tokenizer: Any, row: Tensor | None = None) -> str:
    """The prompt as a string (token inputs are decoded)."""
    model_inp = inp.to_model_input(row)
    if isinstance(model_inp, Mapping):
        model_inp = model_inp["input_ids"]
    if isinstance(model_inp, str):
        return model_inp
    return tokenizer.decode(torch.as_tensor(model_inp).reshape(-1))


def target_ids(target: Any, tokenizer: Any, skip: list[int], generate: Any = None) -> Tensor:
    """Target token ids ``(T,)`` from a string (encoded as the tokenizer does, ``skip``
    tokens removed), a tensor or list of ids, or generated by ``generate()`` when None."""
    if target is None:
        ids = generate()
    elif isinstance(target, str):
        if not target:
            raise AttributionValueError("`target` is an empty string; give the text to explain")
        ids = torch.as_tensor(tokenizer.encode(target))
    elif isinstance(target, Tensor):
        if target.is_floating_point():
            raise AttributionTypeError(f"`target` must hold token ids, got dtype {target.dtype}")
        ids = target
    elif isinstance(target, (list, tuple)) and all(isinstance(t, int) for t in target):
        ids = torch.tensor(target)
    else:
        raise AttributionTypeError(
            f"`target` must be None (generate), a string or token ids, got {type(target).__name__}"
        )
    ids = torch.as_tensor(ids).reshape(-1).long()
    if skip:
        ids = ids[~torch.isin(ids, torch.tensor(skip))]
    if ids.numel() == 0:
        raise AttributionValueError(
            "`target` has no token left to explain (empty, or only `skip_tokens`)"
        )
    bad = tokenizer_ids_over(ids, tokenizer)
    if bad:
        raise AttributionValueError(f"`target` holds token ids {bad} outside the vocabulary")
    return ids


def tokenizer_ids_over(ids: Tensor, tokenizer: Any) -> list[int]:
    size = max(int(getattr(tokenizer, "vocab_size", 0) or 0), _len(tokenizer))
    return [] if size <= 0 else [int(i) for i in ids.tolist() if i < 0 or i >= size]


def _len(tokenizer: Any) -> int:
    try:
        return len(tokenizer)
    except TypeError:
        return 0


def generate_ids(
    model: Any, ids: Tensor | Mapping, gen_args: dict | None, tokenizer: Any
) -> Tensor:
    """Continue the prompt (token ids, or a processor's output) with ``model.generate``
    (greedy by default); the new tokens."""
    if not hasattr(model, "generate"):
        raise AttributionTypeError(
            f"`target` is None, so the model must generate one, but {type(model).__name__} has "
            "no `generate` method; pass the target text or token ids"
        )
    args = dict(DEFAULT_GEN_ARGS) if gen_args is None else dict(gen_args)
    if gen_args is None:
        pad = getattr(tokenizer, "pad_token_id", None)
        eos = getattr(tokenizer, "eos_token_id", None)
        if pad is None and eos is not None:
            args["pad_token_id"] = eos
    device = model_device(model)
    if isinstance(ids, Mapping):
        inputs = {k: v.to(device) if isinstance(v, Tensor) else v for k, v in ids.items()}
        with torch.no_grad():
            out = model.generate(**inputs, **args)
        out = torch.as_tensor(out if not hasattr(out, "sequences") else out.sequences)
        return out[0, inputs["input_ids"].shape[-1] :].cpu()
    x = ids.to(device)[None]
    with torch.no_grad():
        try:
            out = model.generate(x, attention_mask=torch.ones_like(x), **args)
        except TypeError:
            out = model.generate(x, **args)
    out = torch.as_tensor(out if not hasattr(out, "sequences") else out.sequences)
    return out[0, ids.numel() :].cpu()


def tokens(tokenizer: Any, ids: Tensor) -> list[str]:
    return list(tokenizer.convert_ids_to_tokens(ids.tolist()))


def target_value(logits: Tensor, tokens: Tensor, kind: str) -> Tensor:
    """Each row's explained value of its target token from the logits at its position
    (``(rows, vocabulary)``): the log-probability, the probability or the logit."""
    rows = torch.arange(logits.shape[0], device=logits.device)
    if kind == "logit":
        return logits[rows, tokens]
    log_probs = torch.log_softmax(logits.float(), dim=-1)[rows, tokens]
    return log_probs if kind == "log_prob" else log_probs.exp()
