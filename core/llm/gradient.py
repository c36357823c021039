"""LLMGradientAttribution: a layer gradient method on the input embeddings, per target token.

Target token ``t`` is explained by the gradient method applied to
:math:`\\log p(y_t \\mid x, y_{<t})` on the sequence ``prompt + target[:t]``; the
attributions of the embedding vectors are summed over the embedding dimension and kept for
the prompt's tokens. Baselines move the prompt only: the target tokens already generated
keep their own ids in the baseline, so the path changes the prompt and nothing else.

For a causal model the ``T`` sequences are right-padded into one batch and the method runs
once on all of them (the padding comes after the position read, which a causal model cannot
see); otherwise each token gets its own call.
"""

from __future__ import annotations

import copy
from typing import Any

import torch
from torch import Tensor

from ..attribution import Attribution, LayerAttribution
from ..errors import AttributionTypeError, AttributionValueError
from ..registry import spec_of
from . import _common as C
from .gradient_image import attribute_image_prompt
from .image_input import ImageMaskInput
from .inputs import TextTokenInput
from .result import LLMAttributionResult
from .scoring import call_model, model_device, one_pass_is_exact, pad_right


class LLMGradientAttribution(C.GenerationAttribution):
    """Attribute a language model's output text to the prompt's tokens with a layer gradient
    method on the embedding layer.

    Parameters
    ----------
    attr_method : LayerIntegratedGradients, LayerGradientXActivation, LayerGradientShap, ...
        A layer method built on the causal language model and its input embedding layer
        (``LayerIntegratedGradients(model, model.get_input_embeddings())``).
    tokenizer : tokenizer
        Encodes the prompt and the target.

    An :class:`~perspicio.core.ImageMaskInput` (a vision-language model's image and prompt)
    is attributed through two layers at once, the method built on ``[input embeddings,
    vision patch embedding]``: the result's ``token_attr`` holds the prompt's tokens, its
    ``image_attr`` the pixels, its ``convergence_delta`` the completeness gap
    (:mod:`perspicio.core.llm.gradient_image`).
    attr_target : {"log_prob", "prob", "logit"}, optional
        What is explained of each target token; by default the method's spec says
        (``generation_target``): its log-probability, its logit for LRP (as LXT explains
        it: a log-probability is no sum of relevances, and LRP has no rule for the
        logarithm).

    Examples
    --------
    >>> from perspicio.core import LayerIntegratedGradients, LLMGradientAttribution
    >>> from perspicio.core import TextTokenInput
    >>> from perspicio.core.llm.demo import toy_language_model
    >>> model, tokenizer = toy_language_model()   # copies the word after "say"
    >>> lig = LLMGradientAttribution(LayerIntegratedGradients(model, model.embed), tokenizer)
    >>> res = lig.attribute(TextTokenInput("say blue then red", tokenizer), target="blue")
    >>> res.input_tokens, int(res.seq_attr.argmax())
    (['say', 'blue', 'then', 'red'], 1)
    """

    SUPPORTED_INPUTS = (TextTokenInput, ImageMaskInput)

    TARGET_KINDS = ("log_prob", "prob", "logit")

    def __init__(
        self, attr_method: Attribution, tokenizer: Any, attr_target: str | None = None
    ) -> None:
        if attr_target is None:
            inner = getattr(attr_method, "attribution_method", attr_method)
            attr_target = spec_of(type(inner)).generation_target
        super().__init__(attr_method, tokenizer, attr_target)

    def check_method(self, attr_method: Any) -> None:
        if not isinstance(attr_method, LayerAttribution):
            raise AttributionTypeError(
                "`attr_method` must be a layer method on the embedding layer (e.g. "
                "LayerIntegratedGradients(model, model.get_input_embeddings())), got "
                f"{type(attr_method).__name__}; perturbation methods go to LLMAttribution"
            )

    def _value(
        self, ids: Tensor, positions: Tensor, tokens: Tensor, kind: str | None = None
    ) -> Tensor:
        """The explained value of each row: the target token's log-probability
        (probability, logit) at its position."""
        mask = torch.arange(ids.shape[1], device=ids.device)[None, :] <= positions[:, None]
        logits = call_model(self.model, ids, mask.long())
        rows = torch.arange(ids.shape[0], device=ids.device)
        return C.target_value(logits[rows, positions], tokens, kind or self.attr_target)

    def attribute(
        self,
        inp: TextTokenInput,
        target: str | Tensor | None = None,
        gen_args: dict | None = None,
        skip_tokens: list[int] | list[str] | None = None,
        **kwargs: Any,
    ) -> LLMAttributionResult:
        """Attribute ``target`` (generated when None) to the tokens of ``inp``.

        ``kwargs`` go to the layer method (``baselines`` as token ids for the prompt,
        ``n_steps``, ``internal_batch_size`` ...). Returns an :class:`LLMAttributionResult`
        whose ``seq_attr`` is the sum of ``token_attr`` over the target tokens.
        """
        C.check_input(inp, self.SUPPORTED_INPUTS, type(self).__name__)
        if isinstance(inp, ImageMaskInput):  # through the image's patches and the prompt
            return attribute_image_prompt(self, inp, target, gen_args, skip_tokens, **kwargs)
        device = model_device(self.model)
        skip = C.skip_ids(self.tokenizer, skip_tokens)
        prompt = inp.to_model_input().reshape(-1).long()
        target_ids = C.target_ids(
            target,
            self.tokenizer,
            skip,
            lambda: C.generate_ids(self.model, prompt, gen_args, self.tokenizer),
        )
        n_prompt, n_target = prompt.numel(), target_ids.numel()
        baselines = kwargs.pop("baselines", None)
        takes_baselines = "baselines" in _parameters(self.attr_method)
        pad = getattr(self.tokenizer, "pad_token_id", None)
        pad = pad if isinstance(pad, int) else 0
        exact = one_pass_is_exact(self.model, prompt, target_ids, pad)
        self.scoring = "one pass" if exact else "stepwise"
        method = copy.copy(self.attr_method)
        method.forward_func = self._value
        steps = [range(n_target)] if exact else [range(t, t + 1) for t in range(n_target)]
        rows_attr = []
        for block in steps:
            seqs = [torch.cat([prompt, target_ids[:t]]) for t in block]
            ids, _ = pad_right(seqs, pad)
            width = ids.shape[1]
            positions = torch.tensor([n_prompt - 1 + t for t in block])
            tokens = target_ids[list(block)]
            extra = {}
            if takes_baselines:
                extra["baselines"] = self._baselines(
                    baselines, prompt, target_ids, width, len(seqs), inp.itp_mask
                )
            attr = method.attribute(
                ids.to(device),
                additional_forward_args=(positions.to(device), tokens.to(device)),
                **extra,
                **kwargs,
            )
            attr = attr[0] if isinstance(attr, (tuple, list)) else attr
            rows_attr.append(attr.reshape(attr.shape[0], width, -1).sum(-1)[:, :n_prompt])
        token_attr = torch.cat(rows_attr).detach()
        if inp.itp_mask is not None:
            token_attr = token_attr[:, inp.itp_mask.to(token_attr.device)]
        with torch.no_grad():
            full, _ = pad_right([torch.cat([prompt, target_ids[:t]]) for t in range(n_target)], pad)
            probs = self._value(
                full.to(device),
                torch.arange(n_target, device=device) + n_prompt - 1,
                target_ids.to(device),
                kind="prob",
            )
        return LLMAttributionResult(
            input_tokens=inp.values,
            output_tokens=C.tokens(self.tokenizer, target_ids),
            seq_attr=token_attr.sum(0),
            token_attr=token_attr,
            output_probs=probs.detach(),
            inp=inp,
            **self.provenance(),
        )

    def _baselines(
        self,
        given: Any,
        prompt: Tensor,
        target: Tensor,
        width: int,
        rows: int,
        itp_mask: Tensor | None,
    ) -> Any:
        """Token-id baselines of the padded rows: the prompt's baseline (the user's, or token
        0), then the target tokens themselves, so only the prompt moves."""
        tail = target[: width - prompt.numel()]
        if given is None:
            return torch.cat([torch.zeros_like(prompt), tail])[None].expand(rows, -1)
        items = given if isinstance(given, (tuple, list)) else (given,)
        if len(items) != 1:
            raise AttributionValueError(
                f"`baselines` must be one tensor of token ids, got {len(items)} elements"
            )
        b = torch.as_tensor(items[0]).long()
        b = b[None] if b.dim() == 1 else b
        if itp_mask is not None and b.shape[-1] == int(itp_mask.sum()) != prompt.numel():
            full = prompt.to(b.device)[None].repeat(b.shape[0], 1)  # skipped tokens stay
            full[:, itp_mask.to(b.device)] = b
            b = full
        if b.shape[-1] == prompt.numel():
            b = torch.cat([b, tail.to(b.device)[None].expand(b.shape[0], -1)], 1)
        elif b.shape[-1] != width:
            raise AttributionValueError(
                f"`baselines` has {b.shape[-1]} tokens; give one per prompt token "
                f"({prompt.numel()})"
            )
        if spec_of(type(self.attr_method)).baselines == "distribution":
            return (b,)  # a distribution of baseline rows
        return (b.expand(rows, -1) if b.shape[0] == 1 else b,)


def _parameters(method: Attribution) -> Any:
    import inspect

    return inspect.signature(method.attribute).parameters
