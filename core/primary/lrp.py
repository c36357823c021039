"""Layer-wise Relevance Propagation (Bach et al., 2015)."""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from typing import Any

import torch
from torch import Tensor, nn

from .._engine.hooks import CallHooks, preserved_state, replace_gradient, replace_gradients
from .._engine.inputs import (
    TargetType,
    TensorOrTuple,
    as_tuple,
    format_additional_args,
    format_target,
    like_inputs,
    require_float,
)
from .._engine.outputs import run_forward
from ..attribution import GradientAttribution
from ..errors import AttributionTypeError, AttributionValueError
from .attention_lrp import VARIANTS, Audit, transformer_rules
from .deeplift import refuse_torchscript
from .lrp_rules import PropagationRule, default_rule


class NoRule:
    """What a leaf module without a rule gets: the forward pass refuses it when (and only
    when) it runs, so a part of the model the explained output never uses (a dual encoder's
    text tower, with its captions embedded beforehand) needs none."""

    def __init__(self, name: str, module: nn.Module) -> None:
        self.message = (
            f"LRP has no rule for module {name or 'model'!r} of type {type(module).__name__} "
            "and no default for that type; attach one (`module.rule = EpsilonRule()`) or pass "
            "`rules={module: rule}`"
        )

    def __repr__(self) -> str:
        return "NoRule (refused if the module runs)"


def resolve_rules(
    model: nn.Module, rules: dict | None
) -> dict[nn.Module, PropagationRule | NoRule]:
    """The rule of every leaf module: ``rules[module]``, ``module.rule``, or the default;
    :class:`NoRule` for a module without one (a ``TypeError`` naming it if it runs in the
    forward pass, as Captum raises; Captum refuses it even when it does not run)."""
    rules = rules or {}
    out: dict[nn.Module, PropagationRule | NoRule] = {}
    for name, module in model.named_modules():
        if any(True for _ in module.children()):
            continue
        rule = rules.get(module) or getattr(module, "rule", None) or default_rule(module)
        if rule is None:
            out[module] = NoRule(name, module)
            continue
        if not isinstance(rule, PropagationRule):
            raise AttributionTypeError(
                f"the rule of module {name!r} must be a PropagationRule, got {rule!r}"
            )
        out[module] = rule
    return out


@contextlib.contextmanager
def relevance_rules(rules: dict[nn.Module, PropagationRule]) -> Iterator[None]:
    """While active, the backward pass of each rule-bearing module call carries relevance.

    Every call of a module (a reused module included) gets its own rule application;
    the hooks are removed on exit, also when the model raises.
    """

    propagating = [False]  # a rule re-runs its module; that call must not get a rule itself

    def hook(module, args, output):
        rule = rules[module]
        if isinstance(rule, NoRule) and not propagating[0]:  # it runs: it needs a rule
            raise AttributionTypeError(rule.message)
        if propagating[0] or not (
            isinstance(output, Tensor) and args and isinstance(args[0], Tensor)
        ):
            return None
        several = len(args) > 1 and all(isinstance(a, Tensor) for a in args)
        x = tuple(args) if several else args[0]

        def vjp(relevance: Tensor):
            propagating[0] = True
            try:
                return rule.propagate(module, x, relevance)
            finally:
                propagating[0] = False

        if several:  # a module that combines tensors (the addition of a skip connection)
            return replace_gradients(x, output, vjp)
        return replace_gradient(x, output, vjp)

    with CallHooks() as hooks:  # on this call's own passes only
        for m in rules:
            hooks.forward(m, hook)
        yield


#: operations that only the attention-aware rules cover (seen on computed tensors)
_TRANSFORMER_OPS = frozenset(
    """softmax _softmax layer_norm rms_norm scaled_dot_product_attention
    multi_head_attention_forward matmul __matmul__ bmm einsum baddbmm gelu silu""".split()
)


class _TransformerOps(torch.overrides.TorchFunctionMode):
    """Notes whether a forward pass runs an operation of :data:`_TRANSFORMER_OPS` on tensors
    that require gradients (an attention written with ``torch.matmul`` between modules that
    all have layer rules)."""

    def __init__(self) -> None:
        super().__init__()
        self.seen: str | None = None

    def __torch_function__(self, func, types, args=(), kwargs=None):  # noqa: D105
        name = getattr(func, "__name__", "")
        if self.seen is None and name in _TRANSFORMER_OPS:
            grads = [a for a in args if isinstance(a, Tensor) and a.requires_grad]
            if grads and (
                name not in ("matmul", "__matmul__", "bmm", "einsum", "baddbmm")
                or sum(not isinstance(a, nn.Parameter) for a in grads) > 1
            ):
                self.seen = name
        return func(*args, **(kwargs or {}))


def choose_variant(model: nn.Module, rules: dict | None, variant: str) -> str:
    """``"layers"`` (Bach's module rules, Captum's LRP) when every leaf module of ``model`` has
    a rule, else ``"attnlrp"``; an explicit ``variant`` is checked and kept."""
    if variant not in ("auto", "layers", *VARIANTS):
        raise AttributionValueError(
            f"variant must be 'auto', 'layers', 'attnlrp' or 'cp-lrp', got {variant!r}"
        )
    if variant != "auto":
        return variant
    ruled = resolve_rules(model, rules).values()
    return "attnlrp" if any(isinstance(r, NoRule) for r in ruled) else "layers"


class LRP(GradientAttribution):
    r"""Layer-wise Relevance Propagation: the output :math:`F(x)` is redistributed layer by
    layer to the inputs, each operation by its rule, conserving the total where biases and
    stabilisers absorb nothing: :math:`\sum_i R_i \approx F(x)`.

    Two rule sets (``variant``):

    * ``"layers"`` (Bach et al., 2015; Captum's LRP): a rule per leaf module, attached as in
      Captum (``model.fc.rule = EpsilonRule()``) or through ``rules={module: rule}`` without
      touching the model. Defaults: epsilon for linear, convolution, batch norm and pooling
      layers, identity for ReLU, Tanh, Dropout, Flatten; a leaf module with no rule raises a
      ``TypeError`` when it runs. Operations written as functions in ``forward`` (flatten,
      additions) pass relevance on as gradients do.
    * ``"attnlrp"`` (Achtibat et al., ICML 2024) and ``"cp-lrp"`` (Ali et al., ICML 2022): the
      rules of :mod:`~perspicio.core.primary.attention_lrp` on every operation a transformer
      runs (LayerNorm and RMSNorm, softmax, the products of attention, scaled-dot-product
      attention, gated MLPs, point-wise activations), applied per call to any model (Hugging
      Face, timm, torchvision) without changing it. Linear layers take the gradient (LRP-0)
      unless a module has a rule (``rules`` or ``module.rule``: epsilon, gamma ...).

    ``"auto"`` (the default) takes ``"layers"`` when every leaf module has a layer rule and
    the forward pass runs no attention, normalisation or softmax on computed tensors, else
    ``"attnlrp"``. Cost: one forward pass and one backward pass with the rules.

    Examples
    --------
    >>> import torch
    >>> from perspicio.core import LRP
    >>> net = torch.nn.Sequential(torch.nn.Linear(4, 8, bias=False), torch.nn.ReLU(),
    ...                           torch.nn.Linear(8, 1, bias=False))
    >>> x = torch.rand(3, 4)
    >>> rel = LRP(net).attribute(x)
    >>> torch.allclose(rel.sum(1), net(x).squeeze(1), atol=1e-5)
    True

    A transformer block, explained by AttnLRP:

    >>> layer = torch.nn.TransformerEncoderLayer(8, 2, 16, dropout=0.0, batch_first=True)
    >>> head = torch.nn.Sequential(layer, torch.nn.Flatten(), torch.nn.Linear(24, 2))
    >>> rel = LRP(head.double()).attribute(torch.randn(1, 3, 8, dtype=torch.float64), target=0)
    >>> rel.shape
    torch.Size([1, 3, 8])
    """

    #: global attributions (in the units of the output), as Captum reports them
    _multiply_by_inputs = True

    _has_delta = True

    def __init__(self, model: nn.Module, rules: dict | None = None, variant: str = "auto") -> None:
        if not isinstance(model, nn.Module):
            raise AttributionTypeError(f"LRP needs a torch.nn.Module, got {type(model).__name__}")
        super().__init__(model)
        refuse_torchscript(model, "LRP")
        for name, module in model.named_modules():  # a wrong `module.rule` fails here, early
            rule = getattr(module, "rule", None)
            if rule is not None and not isinstance(rule, PropagationRule):
                raise AttributionTypeError(
                    f"the rule of module {name!r} must be a PropagationRule, got {rule!r}"
                )
        self.model, self.rules = model, rules
        self.variant = choose_variant(model, rules, variant)
        self._auto = variant == "auto"

    def attribute(
        self,
        inputs: TensorOrTuple,
        target: TargetType = None,
        additional_forward_args: Any = None,
        return_convergence_delta: bool = False,
        verbose: bool = False,
    ):
        """Return the relevance of each input element (and ``F(x) - sum(R)`` if asked)."""
        xs, was_tuple = as_tuple(inputs)
        require_float(xs, "LRP")
        tgt = format_target(target, xs[0].shape[0])
        args = format_additional_args(additional_forward_args)
        if self.variant == "layers":
            found = self._layer_rules(xs, tgt, args, verbose)
        if self.variant != "layers" or found is None:
            found = self._transformer_rules(xs, tgt, args, self._variant())
        out, relevance = found
        result = like_inputs(relevance, was_tuple)
        if not return_convergence_delta:
            return result
        total = sum(r.reshape(r.shape[0], -1).sum(1) for r in relevance)
        return result, out.detach() - total

    def _variant(self) -> str:
        return "attnlrp" if self.variant == "layers" else self.variant

    def _layer_rules(self, xs, tgt, args, verbose):
        """Bach's module rules; None if ``auto`` sees transformer operations in the pass."""
        rules = resolve_rules(self.model, self.rules)
        if verbose:
            for module, rule in rules.items():
                print(f"{type(module).__name__}: {rule!r}")
        seen = _TransformerOps()
        with preserved_state(self.model), relevance_rules(rules), torch.enable_grad():
            leaves = tuple(x.detach().requires_grad_(True) for x in xs)
            with seen if self._auto else contextlib.nullcontext():
                out = run_forward(self.forward_func, leaves, tgt, args)
            if seen.seen is not None:
                return None
            grads = torch.autograd.grad(out, leaves, out.detach(), allow_unused=True)
        return out, tuple(torch.zeros_like(x) if g is None else g for x, g in zip(xs, grads))

    def _transformer_rules(self, xs, tgt, args, variant, audit: Audit | None = None):
        """The attention-aware rules: relevance is input times the rules' gradient."""
        with preserved_state(self.model), torch.enable_grad():
            leaves = tuple(x.detach().requires_grad_(True) for x in xs)
            with transformer_rules(self.model, leaves, variant, self.rules, audit):
                out = run_forward(self.forward_func, leaves, tgt, args)
            grads = torch.autograd.grad(out, leaves, torch.ones_like(out), allow_unused=True)
        if audit is not None:
            audit.finish()
            audit.output = float(out.detach().double().sum())
        relevance = tuple(
            torch.zeros_like(x) if g is None else x.detach() * g for x, g in zip(xs, grads)
        )
        return out, relevance

    def audit(
        self, inputs: TensorOrTuple, target: TargetType = None, additional_forward_args: Any = None
    ) -> Audit:
        """Where the relevance goes, operation by operation (attention-aware variants).

        Returns an :class:`~perspicio.core.primary.attention_lrp.Audit`: ``output`` (the
        explained outputs' total), ``relevance`` (the inputs' total) and ``absorbed`` (per
        operation, what it keeps: biases, added constants, the softmax's absorbed term); the
        three balance: ``output == relevance + sum(absorbed.values())`` up to rounding.
        """
        xs, _ = as_tuple(inputs)
        require_float(xs, "LRP")
        tgt = format_target(target, xs[0].shape[0])
        args = format_additional_args(additional_forward_args)
        found = Audit()
        _, relevance = self._transformer_rules(xs, tgt, args, self._variant(), found)
        found.relevance = float(sum(r.double().sum() for r in relevance))
        return found
