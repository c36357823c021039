r"""Attention-aware LRP (Achtibat et al., ICML 2024, "AttnLRP: Attention-Aware Layer-Wise
Relevance Propagation for Transformers"), and its conservative-propagation variant CP-LRP
(Ali et al., ICML 2022, "XAI for Transformers: Better Explanations through Conservative
Propagation").

Every rule is written in the gradient-times-input form: the relevance of a tensor ``t`` is
:math:`R_t = t \odot g_t`, where :math:`g` is a *modified* gradient, so one forward pass and
one backward pass give the relevance of every input (and, read at a layer, of the layer).
An operation whose gradient already is its rule needs nothing; the others are changed by
scaling, holding or replacing the gradient around the call:

=====================================  ==========================================================
operation                              rule (AttnLRP)
=====================================  ==========================================================
linear, convolution, embedding,        the gradient (LRP-0: relevance is split in proportion to
sums, reshapes, residual additions     the contributions; a bias or an added constant keeps its
                                       share). ``module.rule = EpsilonRule()`` / ``GammaRule()``
                                       on a module applies that rule instead.
LayerNorm, RMSNorm, ``rsqrt``,         identity rule of the normalisation: :math:`1/\sigma` is
``sqrt``, ``var``, ``std``, ``norm``   held constant; the centring and the affine weight stay
                                       linear (Eq. 9 of the paper, as LXT implements it).
softmax                                the gradient: :math:`R_i = x_i (R_i - s_i \sum_j R_j)`,
                                       the first-order Taylor rule with the bias absorbed.
products of two relevance-carrying     uniform rule: each operand receives half (``q @ k.T``,
tensors (``matmul``, ``bmm``,          ``attn @ v``, a gated MLP's ``act(gate) * up``);
``einsum``, ``mul``)                   :math:`1/n` for an ``n``-fold ``einsum``.
scaled-dot-product attention           the uniform rule as gradient scales around the fused
(``F.scaled_dot_product_attention``)   kernel: ``q`` and ``k`` 1/4, ``v`` 1/2.
point-wise activations (GELU, SiLU,    identity rule: :math:`g_{in} = g_{out} \cdot f(x) / x`.
tanh, sigmoid ... and activation
modules written as formulas)
dropout                                the identity (no units are dropped during the call).
=====================================  ==========================================================

CP-LRP holds the attention weights constant instead (no relevance flows through the softmax
to the queries and keys; the values receive all of it) and stops the gate of a gated MLP.

The rules act on the operations one call runs, through a
:class:`~torch.overrides.TorchFunctionMode` (per thread) and module hooks scoped to the call
(:class:`~perspicio.core._engine.hooks.CallHooks`): nothing of the model, its classes or a
library is patched, and other threads' calls on the same model are untouched. A tensor
carries relevance when it is computed from the explained inputs; an operation on such a
tensor that no rule covers (``exp``, ``pow``, a division by a computed tensor ...) raises in
the backward pass, naming the operation, if relevance reaches it: never a silent gradient.
"""

from __future__ import annotations

import contextlib
import weakref
from collections.abc import Callable, Iterator
from typing import Any

import torch
from torch import Tensor, nn
from torch.overrides import TorchFunctionMode

from .._engine.hooks import CallHooks, bind_first_argument, replace_gradient
from .._engine.relevance import (
    Audit,
    identity_rule,
    is_activation,
    scale_gradient,
)
from .._engine.relevance import TensorSet as _Tensors
from .._engine.relevance import differentiable as _differentiable
from .._engine.relevance import swap as _swap
from .._engine.relevance import tensors as _tensors
from ..errors import AttributionTypeError, AttributionValueError
from .lrp_rules import PropagationRule

VARIANTS = ("attnlrp", "cp-lrp")


class _LayerNormRule(torch.autograd.Function):
    """LayerNorm with :math:`1/\\sigma` held constant: :math:`g_x = C (w \\odot g) / \\sigma`
    with :math:`C` the centring over the normalised dimensions."""

    @staticmethod
    def forward(ctx, x, shape, weight, bias, eps):  # noqa: D102
        y, _, rstd = torch.native_layer_norm(x, shape, weight, bias, eps)
        ctx.dims = tuple(range(x.dim() - len(shape), x.dim()))
        ctx.save_for_backward(rstd, weight)
        return y

    @staticmethod
    def backward(ctx, grad):  # noqa: D102
        rstd, weight = ctx.saved_tensors
        g = grad if weight is None else grad * weight
        g = g * rstd
        return g - g.mean(ctx.dims, keepdim=True), None, None, None, None


class _NoRule(torch.autograd.Function):
    """Forward: ``y``. Backward: an error naming the operation, if relevance reaches it."""

    @staticmethod
    def forward(ctx, y: Tensor, name: str) -> Tensor:  # noqa: D102
        ctx.name = name
        return y.view_as(y)

    @staticmethod
    def backward(ctx, grad: Tensor):  # noqa: D102
        if grad is not None and bool(grad.ne(0).any()):
            raise AttributionTypeError(
                f"LRP has no rule for the operation {ctx.name!r}, and relevance flows through "
                "it. AttnLRP covers linear maps, normalisations, softmax, products "
                "(uniform rule), attention and point-wise activations (identity rule); wrap "
                "the code that calls it in an nn.Module and give that module a rule "
                "(`module.rule = IdentityRule()` for a point-wise function, EpsilonRule() for "
                "a linear one), or use variant='cp-lrp' if it sits in the attention weights"
            )
        return grad, None


# --- what each operation is, by name (torch.x, Tensor.x, F.x and the dunder forms) --------
#: structure and linear maps: the gradient is the rule (constants added keep their share)
LINEAR = frozenset(
    """view view_as reshape reshape_as permute transpose t contiguous expand expand_as repeat
    repeat_interleave flatten unflatten squeeze unsqueeze narrow select __getitem__ __setitem__
    index_select gather take_along_dim cat concat concatenate stack hstack vstack split chunk
    unbind tensor_split movedim moveaxis swapaxes swapdims clone to type float double half
    bfloat16 type_as flip roll tril triu pad copy_ masked_fill masked_fill_ where index_put
    index_put_ scatter scatter_add sum mean cumsum neg __neg__ positive add add_ __add__ __radd__
    __iadd__ sub sub_ __sub__ __rsub__ __isub__ linear conv1d conv2d conv3d conv_transpose1d
    conv_transpose2d conv_transpose3d avg_pool1d avg_pool2d avg_pool3d adaptive_avg_pool1d
    adaptive_avg_pool2d adaptive_avg_pool3d max_pool1d max_pool2d max_pool3d
    max_pool1d_with_indices max_pool2d_with_indices adaptive_max_pool1d adaptive_max_pool2d
    embedding batch_norm _unsafe_view unfold fold pixel_shuffle pixel_unshuffle interpolate
    upsample diag_embed as_strided roll narrow_copy slice_scatter select_scatter
    """.split()
)
#: products: linear in each operand, the uniform rule when several carry relevance
PRODUCTS = frozenset(
    """mul mul_ __mul__ __rmul__ __imul__ multiply matmul __matmul__ __rmatmul__ bmm mm
    einsum baddbmm addmm addbmm tensordot outer bilinear""".split()
)
#: division: linear in the numerator; a computed denominator has no rule
DIVISIONS = frozenset("div div_ __truediv__ __itruediv__ true_divide divide".split())
#: a normaliser's scale: held constant (the identity rule of LayerNorm and RMSNorm)
SCALES = frozenset("rsqrt rsqrt_ sqrt sqrt_ var std var_mean std_mean norm vector_norm".split())
#: point-wise activations: the identity rule
POINTWISE = frozenset(
    """gelu silu relu relu_ relu6 leaky_relu leaky_relu_ elu elu_ selu celu softplus mish
    hardswish hardsigmoid sigmoid sigmoid_ tanh tanh_ hardtanh logsigmoid silu_ gelu_
    quick_gelu""".split()
)
SOFTMAX = frozenset("softmax _softmax log_softmax".split())
DROPOUT = frozenset(
    "dropout dropout_ dropout1d dropout2d dropout3d alpha_dropout feature_alpha_dropout".split()
)
#: no derivative to distribute (a lookup's indices, a comparison)
#: the operations with a rule of their own (the linear ones included: audited)
RULED = LINEAR | PRODUCTS | DIVISIONS | POINTWISE | SOFTMAX
INERT = frozenset(
    """__get__ argmax argmin eq ne lt le gt ge isnan isinf isfinite sign __eq__ __ne__ __lt__ __le__
    __gt__ __ge__ size dim numel detach detach_ requires_grad_ __len__ __format__ __repr__
    __bool__ item tolist new_zeros new_ones new_full new_empty new_tensor zeros_like ones_like
    full_like empty_like rand_like randn_like __hash__ __array__ numpy cpu cuda""".split()
)


#: each torch function's name, looked up once
_NAMES: dict[Callable, str] = {}


class TransformerRules(TorchFunctionMode):
    """The AttnLRP (or CP-LRP) rules of every operation run while active, in this thread.

    Parameters
    ----------
    carriers : tensors
        The explained inputs: every tensor computed from them carries relevance.
    variant : {"attnlrp", "cp-lrp"}
    audit : Audit, optional
        Records the relevance each operation absorbs (slower; for checks and reports).
    """

    def __init__(
        self, carriers: tuple[Tensor, ...], variant: str = "attnlrp", audit: Audit | None = None
    ) -> None:
        super().__init__()
        if variant not in VARIANTS:
            raise AttributionValueError(f"variant must be one of {VARIANTS}, got {variant!r}")
        self.variant, self.audit = variant, audit
        self.carrying = _Tensors(carriers)
        self.gates = _Tensors()  # activation outputs (CP-LRP's gates)
        self.plain: list[tuple[bool, bool]] = []  # inside activation modules: no rules

    def carries(self, t: Any) -> bool:
        """Whether ``t`` is a tensor computed from the explained inputs."""
        return isinstance(t, Tensor) and t in self.carrying

    def mark(self, out: Any) -> Any:
        """Mark every tensor of ``out`` as computed from the inputs; return ``out``."""
        for t in _tensors(out):
            self.carrying.add(t)
        return out

    def _carried(self, args: tuple, kwargs: dict) -> list[Tensor]:
        refs = self.carrying._refs
        found = []
        for a in (*args, *kwargs.values()) if kwargs else args:
            if isinstance(a, Tensor):
                ref = refs.get(id(a))
                if ref is not None and ref() is a:
                    found.append(a)
            elif isinstance(a, (tuple, list)):
                found.extend(t for t in _tensors(a) if t in self.carrying)
        return found

    def __torch_function__(self, func, types, args=(), kwargs=None):  # noqa: D105
        kwargs = kwargs or {}
        if self.plain and self.plain[-1][0]:
            return func(*args, **kwargs)
        name = _NAMES.get(func)
        if name is None:
            name = _NAMES[func] = getattr(func, "__name__", repr(func))
        if name in INERT:  # metadata (shape, dtype, size ...), comparisons, detach
            return func(*args, **kwargs)
        carried = self._carried(args, kwargs)
        if not carried:
            return func(*args, **kwargs)
        if name in LINEAR and self.audit is None:  # the common case, kept short
            out = func(*args, **kwargs)
            refs = self.carrying._refs
            if isinstance(out, Tensor):
                refs[id(out)] = weakref.ref(out)
                return out
            return self.mark(out)
        if name in DROPOUT:
            return self.mark(args[0] if args else kwargs["input"])
        if name in SCALES:
            out = func(*args, **kwargs)
            return tuple(o.detach() for o in out) if isinstance(out, tuple) else out.detach()
        if name in ("scaled_dot_product_attention", "multi_head_attention_forward"):
            return self._attention(func, name, args, kwargs)
        if name == "layer_norm":
            return self._layer_norm(args, kwargs)
        if name == "rms_norm":
            return self._rms_norm(args, kwargs)
        if name == "normalize":
            return self._normalize(func, args, kwargs)
        if name in RULED:
            return self._ruled(func, name, args, kwargs, _differentiable(carried))
        out = func(*args, **kwargs)
        if not _differentiable(list(_tensors(out))):
            return self.mark(out)  # integer, boolean or detached results
        if isinstance(out, Tensor):
            return self.mark(_NoRule.apply(out, name))
        return self.mark(
            type(out)(_NoRule.apply(t, name) if isinstance(t, Tensor) else t for t in out)
        )

    # --- the rules -----------------------------------------------------------------------
    def _watched(self, name: str, carried: list[Tensor], args: tuple, kwargs: dict):
        """With an audit: the call's carriers replaced by recorded aliases."""
        if self.audit is None or not carried:
            return carried, args, kwargs, (lambda out: out)
        aliases, done = self.audit.watch(name, carried)
        lookup = {id(t): a for t, a in zip(carried, aliases)}
        ids = set(lookup)

        def change(t: Tensor) -> Tensor:
            return lookup[id(t)]

        args = tuple(_swap(a, change, ids) for a in args)
        kwargs = {k: _swap(v, change, ids) for k, v in kwargs.items()}
        return aliases, args, kwargs, done

    def _ruled(self, func, name, args, kwargs, carried):
        carried, args, kwargs, done = self._watched(name, carried, args, kwargs)
        if name in POINTWISE:
            x, apply = bind_first_argument(func, args, kwargs)
            with torch.no_grad():
                y = apply(x)
            out = identity_rule(x, y)
            self.gates.add(out)
            return self.mark(done(out))
        if name in SOFTMAX and self.variant == "cp-lrp":
            return func(*args, **kwargs).detach()
        if name in PRODUCTS and len(carried) > 1:
            args, kwargs = self._products(args, kwargs, carried)
        out = func(*args, **kwargs)
        if name in DIVISIONS and len(args) > 1 and self.carries(args[1]):
            out = _NoRule.apply(out, f"{name} by a tensor computed from the inputs")
        return self.mark(done(out))

    def _products(self, args, kwargs, carried):
        """The uniform rule: each of ``n`` relevance-carrying factors gets ``1/n``; CP-LRP
        stops a gate (an activation's output) instead."""
        ids = {id(t) for t in carried}
        gates = {id(t) for t in carried if t in self.gates}
        if self.variant == "cp-lrp" and gates and len(gates) < len(carried):

            def change(t: Tensor) -> Tensor:
                return t.detach() if id(t) in gates else t
        else:
            share = 1.0 / len(carried)

            def change(t: Tensor) -> Tensor:
                return scale_gradient(t, share)

        return (
            tuple(_swap(a, change, ids) for a in args),
            {k: _swap(v, change, ids) for k, v in kwargs.items()},
        )

    def _attention(self, func, name, args, kwargs):
        """The uniform rule of ``q @ k.T`` (1/2) inside that of ``attn @ v`` (1/2), as
        scales of the gradients around the fused call; CP-LRP stops ``q`` and ``k``."""
        names = ("query", "key", "value")
        bound = dict(zip(names, args[:3])) | {k: v for k, v in kwargs.items() if k in names}
        rest = {k: v for k, v in kwargs.items() if k not in names}
        carried = _differentiable([bound[n] for n in names if self.carries(bound[n])])
        carried = list({id(t): t for t in carried}.values())
        carried, _, _, done = self._watched("attention", carried, (), {})
        lookup = dict(zip((id(bound[n]) for n in names if self.carries(bound[n])), carried))
        q, k, v = (lookup.get(id(bound[n]), bound[n]) for n in names)
        if self.variant == "cp-lrp":
            q, k = q.detach(), k.detach()
        else:
            q = scale_gradient(q, 0.25) if q.requires_grad else q
            k = scale_gradient(k, 0.25) if k.requires_grad else k
            v = scale_gradient(v, 0.5) if v.requires_grad else v
        extra = list(args[3:])
        if name == "scaled_dot_product_attention":
            if len(extra) > 1:
                extra[1] = 0.0  # dropout_p
            rest = rest | ({"dropout_p": 0.0} if "dropout_p" in rest else {})
        else:  # multi_head_attention_forward(q, k, v, ..., dropout_p, ..., training, ...)
            if len(extra) > 7:
                extra[7] = 0.0
            if len(extra) > 10:
                extra[10] = False
            else:
                rest = rest | {"training": False}
        return self.mark(done(func(q, k, v, *extra, **rest)))

    def _layer_norm(self, args, kwargs):
        names = ("input", "normalized_shape", "weight", "bias", "eps")
        bound = dict(zip(names, args)) | kwargs
        (x,), _, _, done = self._watched("layer_norm", [bound["input"]], (), {})
        shape = list(bound["normalized_shape"])
        out = _LayerNormRule.apply(
            x, shape, bound.get("weight"), bound.get("bias"), bound.get("eps", 1e-5)
        )
        return self.mark(done(out))

    def _rms_norm(self, args, kwargs):
        names = ("input", "normalized_shape", "weight", "eps")
        bound = dict(zip(names, args)) | kwargs
        (x,), _, _, done = self._watched("rms_norm", [bound["input"]], (), {})
        dims = tuple(range(x.dim() - len(tuple(bound["normalized_shape"])), x.dim()))
        eps = bound.get("eps")
        eps = torch.finfo(x.dtype).eps if eps is None else eps
        out = x * torch.rsqrt(x.detach().pow(2).mean(dims, keepdim=True) + eps)
        if bound.get("weight") is not None:
            out = out * bound["weight"]
        return self.mark(done(out))

    def _normalize(self, func, args, kwargs):
        names = ("input", "p", "dim", "eps")
        bound = {"p": 2.0, "dim": 1, "eps": 1e-12} | dict(zip(names, args)) | kwargs
        (x,), _, _, done = self._watched("normalize", [bound["input"]], (), {})
        norm = x.detach().norm(bound["p"], bound["dim"], keepdim=True)
        return self.mark(done(x / norm.clamp_min(bound["eps"]).expand_as(x)))


def _module_rule(rule: PropagationRule, mode: TransformerRules) -> Callable:
    """A module's relevance rule (``R_in = rule(R_out)``) in gradient form:
    :math:`g_{in} = R_{in} / x` (0 where ``x`` is 0), with :math:`R_{out} = y \\odot g`."""

    def hook(module, args, output):
        if not (isinstance(output, Tensor) and args and mode.carries(args[0])):
            return None
        x = args[0]

        def vjp(g: Tensor) -> Tensor:
            with torch.enable_grad():
                rel = rule.propagate(module, x.detach(), output.detach() * g)
            zero = x == 0
            return torch.where(zero, torch.zeros_like(rel), rel / torch.where(zero, 1.0, x))

        with torch._C.DisableTorchFunction():
            out = replace_gradient(x, output, vjp)
        return mode.mark(out)

    return hook


def _activation_rule(mode: TransformerRules) -> tuple[Callable, Callable]:
    """The identity rule on a whole activation module's call: its own operations run plain
    and without a graph (the rule replaces their result), then the rule is attached."""

    def before(module, args):
        carried = bool(args) and mode.carries(args[0])
        mode.plain.append((carried, torch.is_grad_enabled()))
        if carried:
            torch.set_grad_enabled(False)

    def after(module, args, output):
        carried, grad = mode.plain.pop()
        torch.set_grad_enabled(grad)
        if not (carried and isinstance(output, Tensor)):
            return None
        with torch._C.DisableTorchFunction():
            out = identity_rule(args[0], output)
        mode.gates.add(out)
        return mode.mark(out)

    return before, after


@contextlib.contextmanager
def transformer_rules(
    model: nn.Module,
    carriers: tuple[Tensor, ...],
    variant: str = "attnlrp",
    rules: dict[nn.Module, PropagationRule] | None = None,
    audit: Audit | None = None,
) -> Iterator[TransformerRules]:
    """The rules of this module on the operations of the forward passes run inside, in this
    thread: a module with an explicit rule (``rules``, ``module.rule``) gets that rule, an
    activation module the identity rule as a whole, every other operation its own rule."""
    rules = rules or {}
    mode = TransformerRules(carriers, variant, audit)
    with CallHooks() as hooks:
        for name, module in model.named_modules():
            rule = rules.get(module) or getattr(module, "rule", None)
            if rule is not None:
                if not isinstance(rule, PropagationRule):
                    raise AttributionTypeError(
                        f"the rule of module {name!r} must be a PropagationRule, got {rule!r}"
                    )
                hooks.forward(module, _module_rule(rule, mode))
            elif is_activation(module):
                before, after = _activation_rule(mode)
                hooks.forward_pre(module, before)
                hooks.forward(module, after)
        with mode:
            yield mode
