"""LLMAttribution: which features of a prompt made a language model produce a target.

A perturbation method (FeatureAblation, ShapleyValueSampling, ShapleyValues, Lime,
KernelShap) runs on the prompt's interpretable features; the function it explains maps a
perturbed feature row to the target's log-probability under the perturbed prompt,

.. math:: f(z) = \\log p(y \\mid x(z)) = \\sum_t \\log p(y_t \\mid x(z), y_{<t}),

and, for the methods that attribute several outputs, to each token's term as well.

Faster than scoring token by token: every target token of a perturbed prompt is scored in
one teacher-forced forward pass, many prompts per pass (:mod:`.scoring`), and each distinct
perturbation is scored once, however many times the method (or its passes over the total
and the tokens) asks for it.
"""

from __future__ import annotations

import copy
from collections.abc import Callable
from typing import Any

import torch
from torch import Tensor

from ..attribution import Attribution
from ..errors import AttributionTypeError, AttributionValueError
from ..registry import MethodSpec, get_spec, names, spec_of
from . import _common as C
from .image_input import ImageMaskInput, check_reaches_model
from .inputs import InterpretableInput, TextTemplateInput, TextTokenInput
from .multimodal import MultimodalScorer
from .result import LLMAttributionResult
from .scoring import one_pass_is_exact, rows_per_pass, score_one_pass, score_stepwise


def _wraps(spec: MethodSpec) -> bool:
    """A method this class wraps: a perturbation method the registry offers for generation."""
    return spec.generation and spec.black_box


class _Classes:
    """The classes of the registered methods a query selects, read when asked (a class
    attribute that follows the registry)."""

    def __init__(self, query) -> None:
        self.query = query

    def __get__(self, instance: Any, owner: Any = None) -> tuple[type, ...]:
        return tuple(get_spec(n).cls for n in names() if self.query(get_spec(n)))


class _Scores:
    """Log-probabilities of the target under perturbed prompts, each distinct perturbation
    scored once. ``__call__`` maps ``(m, F)`` feature rows to ``(m, 1 + T)``: the total
    (column 0) and each token."""

    def __init__(
        self,
        score_rows: Callable[[list[Tensor]], Tensor],
        attr_target: str,
        show: Callable[[Tensor, Tensor], None] | None = None,
    ) -> None:
        self.score_rows = score_rows
        self.attr_target = attr_target
        self.cache: dict[tuple, Tensor] = {}
        self.show = show

    def log_probs(self, rows: Tensor) -> Tensor:
        keys = [tuple(r.tolist()) for r in rows.detach().cpu()]
        missing = list(dict.fromkeys(k for k in keys if k not in self.cache))
        if missing:
            scored = self.score_rows([torch.tensor(k) for k in missing])
            for k, s in zip(missing, scored.cpu()):
                self.cache[k] = s
                if self.show is not None:
                    self.show(torch.tensor(k), s)
        return torch.stack([self.cache[k] for k in keys])

    def __call__(self, rows: Tensor, *_: Any) -> Tensor:
        lp = self.log_probs(rows).to(rows.device)
        out = torch.cat([lp.sum(1, keepdim=True), lp], 1)
        return out if self.attr_target == "log_prob" else out.exp()


class LLMAttribution(C.GenerationAttribution):
    """Attribute a language model's output text to the features of its prompt with a
    perturbation method.

    Parameters
    ----------
    attr_method : FeatureAblation, ShapleyValueSampling, ShapleyValues, Lime or KernelShap
        Built on the causal language model (``forward(input_ids)`` returning logits, or an
        object with ``.logits``, e.g. a Hugging Face ``AutoModelForCausalLM``). It is not
        modified.
    tokenizer : tokenizer
        Encodes prompts and targets (a Hugging Face tokenizer, or anything with ``encode``,
        ``decode``, ``convert_ids_to_tokens`` and ``convert_tokens_to_ids``).
    attr_target : {"log_prob", "prob"}, default "log_prob"
        Attribute the target's log-probability or its probability.

    Examples
    --------
    >>> import torch
    >>> from perspicio.core import FeatureAblation, LLMAttribution, TextTemplateInput
    >>> from perspicio.core.llm.demo import toy_language_model
    >>> model, tokenizer = toy_language_model()   # copies the word after "say"
    >>> inp = TextTemplateInput("say {} then {}", ["blue", "red"])
    >>> res = LLMAttribution(FeatureAblation(model), tokenizer).attribute(inp, target="blue")
    >>> res.input_tokens, bool(res.seq_attr[0] > res.seq_attr[1])
    (['blue', 'red'], True)
    """

    #: the classes it wraps, and those whose attribution of the total and of each token
    #: share their evaluations (``per_output_token``), as the registry says now
    SUPPORTED_METHODS = _Classes(_wraps)
    SUPPORTED_PER_TOKEN_ATTR_METHODS = _Classes(lambda s: _wraps(s) and s.per_output_token)
    SUPPORTED_INPUTS: tuple[type, ...] = (TextTemplateInput, TextTokenInput, ImageMaskInput)

    def __init__(
        self, attr_method: Attribution, tokenizer: Any, attr_target: str = "log_prob"
    ) -> None:
        super().__init__(attr_method, tokenizer, attr_target)

    def check_method(self, attr_method: Any) -> None:
        if not (isinstance(attr_method, Attribution) and _wraps(spec_of(type(attr_method)))):
            supported = ", ".join(c.__name__ for c in self.SUPPORTED_METHODS)
            hint = (
                " (gradient methods: LLMGradientAttribution)"
                if not isinstance(attr_method, Attribution) or hasattr(attr_method, "layer")
                else ""
            )
            raise AttributionTypeError(
                f"`attr_method` must be one of {supported}, got {type(attr_method).__name__}{hint}"
            )

    # ----------------------------------------------------------------- scoring
    def _pad_id(self) -> int:
        for name in ("pad_token_id", "eos_token_id"):
            value = getattr(self.tokenizer, name, None)
            if isinstance(value, int):
                return value
        return 0

    def _scorer(self, inp: InterpretableInput, target: Tensor, rows: int | None) -> Callable:
        """``score_rows(feature rows) -> (m, T)`` for this prompt and target."""
        if C.is_processed(inp):  # a processor's inputs (an image with its prompt)
            return self._multimodal_scorer(inp, target, rows)
        base = C.prompt_ids(inp, self.tokenizer)
        pad = self._pad_id()
        exact = one_pass_is_exact(self.model, base, target, pad)
        self.scoring = "one pass" if exact else "stepwise"
        vocab = max(int(getattr(self.tokenizer, "vocab_size", 0) or 0), C._len(self.tokenizer))
        per_pass = rows or rows_per_pass(base.numel() + target.numel(), vocab or 50_000)

        def score_rows(feature_rows: list[Tensor]) -> Tensor:
            prompts = [C.prompt_ids(inp, self.tokenizer, r[None], pad) for r in feature_rows]
            if exact:
                return score_one_pass(self.model, prompts, target, pad, per_pass)
            return torch.stack([score_stepwise(self.model, p, target) for p in prompts])

        return score_rows

    def _multimodal_scorer(
        self, inp: InterpretableInput, target: Tensor, rows: int | None
    ) -> Callable:
        blank = inp.to_model_input(torch.zeros(1, inp.n_itp_features))
        vocab = max(int(getattr(self.tokenizer, "vocab_size", 0) or 0), C._len(self.tokenizer))
        scorer = MultimodalScorer(self.model, inp.to_model_input(), blank, target, rows, vocab)
        self.scoring = scorer.mode
        return lambda feature_rows: scorer([inp.to_model_input(r[None]) for r in feature_rows])

    def _target(
        self, inp: InterpretableInput, target: Any, skip_tokens: Any, gen_args: dict | None
    ) -> Tensor:
        skip = C.skip_ids(self.tokenizer, skip_tokens)
        return C.target_ids(
            target,
            self.tokenizer,
            skip,
            lambda: C.generate_ids(
                self.model, C.generation_input(inp, self.tokenizer), gen_args, self.tokenizer
            ),
        )

    # --------------------------------------------------------------- attribute
    def attribute(
        self,
        inp: InterpretableInput,
        target: str | Tensor | None = None,
        num_trials: int = 1,
        gen_args: dict | None = None,
        use_cached_outputs: bool = True,
        _inspect_forward: Callable | None = None,
        forward_in_tokens: bool = True,
        skip_tokens: list[int] | list[str] | None = None,
        **kwargs: Any,
    ) -> LLMAttributionResult:
        """Attribute ``target`` (generated greedily when None) to the features of ``inp``.

        Parameters
        ----------
        inp : TextTemplateInput, TextTokenInput or ImageMaskInput
            The prompt and its features (an image's segments, with the prompt in its
            ``processor_fn``).
        target : str, tensor of token ids, or None
            The continuation to explain; None generates one with ``model.generate``
            (``gen_args``; greedy, 25 new tokens by default).
        num_trials : int, default 1
            Average the attribution over this many runs (for the sampling methods).
        use_cached_outputs, forward_in_tokens : bool
            Accepted for compatibility; scoring is one teacher-forced pass per prompt.
        skip_tokens : list of int or str, optional
            Token ids (or tokens) dropped from the target, e.g. the tokenizer's
            beginning-of-sequence token that ``encode`` adds.
        **kwargs
            Passed to the method's ``attribute`` (``n_samples``, ``perturbations_per_eval``,
            ``generator``, ``show_progress`` ...).

        Returns
        -------
        LLMAttributionResult
            ``seq_attr`` (per feature), ``token_attr`` (per target token and feature;
            None for Lime and KernelShap), the tokens and the target's probabilities.
        """
        C.check_input(inp, self.SUPPORTED_INPUTS, type(self).__name__)
        if isinstance(inp, ImageMaskInput):
            check_reaches_model(inp)
        if isinstance(num_trials, bool) or not isinstance(num_trials, int) or num_trials < 1:
            raise AttributionValueError(f"`num_trials` must be a positive int, got {num_trials!r}")
        target_ids = self._target(inp, target, skip_tokens, gen_args)
        scores = self._scores(inp, target_ids, kwargs, _inspect_forward)
        features = inp.to_tensor().to(C.model_device(self.model))
        per_token = spec_of(type(self.attr_method)).per_output_token
        n_out = 1 + target_ids.numel() if per_token else 1
        method = copy.copy(self.attr_method)
        method.forward_func = scores
        kwargs.setdefault("perturbations_per_eval", 10**6)  # the scorer batches model calls
        generator = kwargs.get("generator")
        if num_trials > 1 and isinstance(generator, int) and not isinstance(generator, bool):
            kwargs["generator"] = torch.Generator().manual_seed(generator)  # trials differ
        # the total and every token in one call: a row per output, each targeting its own
        # column; the rows share their perturbations (and draws), scored once
        rows = features.expand(n_out, -1).contiguous()
        outputs = torch.arange(n_out, device=features.device)
        total = None
        for _ in range(num_trials):
            trial = method.attribute(rows, target=outputs, **kwargs)
            total = trial if total is None else total + trial
        attr = total / num_trials
        base_lp = scores.log_probs(features)[0]
        return LLMAttributionResult(
            input_tokens=inp.values,
            output_tokens=C.tokens(self.tokenizer, target_ids),
            seq_attr=inp.format_attr(attr[0]),
            token_attr=inp.format_attr(attr[1:]) if n_out > 1 else None,
            output_probs=base_lp.exp(),
            inp=inp,
            **self.provenance(),
        )

    def _scores(
        self,
        inp: InterpretableInput,
        target_ids: Tensor,
        kwargs: dict,
        inspect_forward: Callable | None,
    ) -> _Scores:
        per_eval = kwargs.get("perturbations_per_eval")
        rows = per_eval if isinstance(per_eval, int) and not isinstance(per_eval, bool) else None
        show = None
        if inspect_forward is not None:

            def show(row: Tensor, lp: Tensor) -> None:
                inspect_forward(
                    C.prompt_text(inp, self.tokenizer, row[None]),
                    self.tokenizer.decode(target_ids),
                    lp.tolist(),
                )

        return _Scores(self._scorer(inp, target_ids, rows), self.attr_target, show)

    def attribute_future(self, *args: Any, **kwargs: Any) -> Any:
        """Not offered: text-generation attribution returns its result directly."""
        raise NotImplementedError(f"{type(self).__name__} has no attribute_future; use attribute")
