"""Context managers that change how a model computes, and always undo it.

Two mechanisms live here:

* :class:`FunctionRules` intercepts torch functions *per call* (``F.relu``, ``torch.sigmoid``,
  ``F.max_pool2d``, ``Tensor.softmax`` ...) while it is active. Because it sees calls rather
  than modules, a module used twice (torchvision ResNet's shared ReLU), an in-place activation
  and a functional activation written inside ``forward`` are all handled the same way. The
  backward rules of DeepLift, guided backpropagation and deconvolution are built on it.
* :func:`preserved_state` snapshots a module's train/eval flags and the ``requires_grad`` of
  its parameters and restores them on exit, also when an exception is raised.
* :func:`recurrent_backward_allowed` lets gradients flow through recurrent layers on CUDA in
  eval mode, which cuDNN's RNN kernels refuse, without touching the model's mode.

Nothing here attaches anything that outlives the ``with`` block.
"""

from __future__ import annotations

import contextlib
import inspect
from collections.abc import Callable, Iterator, Mapping
from typing import Any

import torch
from torch import Tensor
from torch.overrides import TorchFunctionMode

Rule = Callable[[Callable, tuple, dict], Any]


class FunctionRules(TorchFunctionMode):
    """Replace selected torch functions by rules while the context is active.

    Parameters
    ----------
    rules : mapping
        ``{torch function: rule}``; a rule is called as ``rule(func, args, kwargs)`` and
        returns what ``func`` would return. Calls inside a rule run without interception.

    Examples
    --------
    >>> import torch
    >>> def double(func, args, kwargs):
    ...     return 2 * func(*args, **kwargs)
    >>> with FunctionRules({torch.relu: double}):
    ...     torch.relu(torch.tensor([1.0, -1.0]))
    tensor([2., 0.])
    """

    def __init__(self, rules: Mapping[Callable, Rule]) -> None:
        super().__init__()
        self.rules = dict(rules)

    def __torch_function__(self, func, types, args=(), kwargs=None):  # noqa: D105
        kwargs = kwargs or {}
        rule = self.rules.get(func)
        if rule is None:
            return func(*args, **kwargs)
        return rule(func, args, kwargs)


class _ReplacedGradient(torch.autograd.Function):
    """Forward: the value ``y``. Backward: ``vjp(grad_output)`` flows to ``x``."""

    @staticmethod
    def forward(ctx, x: Tensor, y: Tensor, vjp: Callable[[Tensor], Tensor]) -> Tensor:  # noqa: D102
        ctx.vjp = vjp
        return y.clone()

    @staticmethod
    def backward(ctx, grad_output: Tensor):  # noqa: D102
        return ctx.vjp(grad_output), None, None


class _ReplacedGradients(torch.autograd.Function):
    """Forward: the value ``y``. Backward: ``vjp(grad_output)``, a tuple, flows to ``xs``."""

    @staticmethod
    def forward(ctx, y: Tensor, vjp: Callable, *xs: Tensor) -> Tensor:  # noqa: D102
        ctx.vjp = vjp
        return y.clone()

    @staticmethod
    def backward(ctx, grad_output: Tensor):  # noqa: D102
        return (None, None, *ctx.vjp(grad_output))


def replace_gradients(xs: tuple[Tensor, ...], y: Tensor, vjp: Callable) -> Tensor:
    """:func:`replace_gradient` for a value of several tensors: ``vjp(g)`` returns one
    gradient per tensor of ``xs``."""
    return _ReplacedGradients.apply(y.detach(), vjp, *xs)


def replace_gradient(x: Tensor, y: Tensor, vjp: Callable[[Tensor], Tensor]) -> Tensor:
    """Return a tensor equal to ``y`` whose gradient with respect to ``x`` is ``vjp(g)``.

    ``y`` is treated as a constant; the only path back into the graph is through ``x``.
    """
    return _ReplacedGradient.apply(x, y.detach(), vjp)


_SIGNATURES: dict[Callable, inspect.Signature | None] = {}


def _signature(func: Callable) -> inspect.Signature | None:
    if func not in _SIGNATURES:
        try:
            _SIGNATURES[func] = inspect.signature(func)
        except (TypeError, ValueError):
            _SIGNATURES[func] = None
    return _SIGNATURES[func]


_OUT_OF_PLACE = {
    torch.relu_: torch.relu,
    Tensor.relu_: torch.relu,
    torch.sigmoid_: torch.sigmoid,
    Tensor.sigmoid_: torch.sigmoid,
    torch.tanh_: torch.tanh,
    Tensor.tanh_: torch.tanh,
}


def bind_first_argument(
    func: Callable, args: tuple, kwargs: dict
) -> tuple[Any, Callable[[Tensor], Any]]:
    """Split a call into its first argument ``x`` and ``apply(t)``, the same call on ``t``.

    ``apply`` never modifies ``t``: in-place variants (``relu_``, ``inplace=True``) are
    replaced by their out-of-place forms, so a rule can read the input after the call.
    """
    func = _OUT_OF_PLACE.get(func, func)
    sig = _signature(func)
    if sig is not None and "inplace" in sig.parameters:
        bound = sig.bind(*args, **kwargs)
        bound.arguments["inplace"] = False
        first = next(iter(bound.arguments))
        x = bound.arguments[first]

        def apply(t: Tensor) -> Any:
            bound.arguments[first] = t
            return func(*bound.args, **bound.kwargs)

        return x, apply
    rest, kw = args[1:], kwargs
    return args[0], lambda t: func(t, *rest, **kw)


@contextlib.contextmanager
def preserved_state(module: Any) -> Iterator[None]:
    """Restore train/eval flags and parameters' ``requires_grad`` of ``module`` on exit.

    Examples
    --------
    >>> import torch
    >>> net = torch.nn.Linear(2, 1)
    >>> with preserved_state(net):
    ...     _ = net.eval()
    ...     _ = net.weight.requires_grad_(False)
    >>> net.training, net.weight.requires_grad
    (True, True)
    """
    if not isinstance(module, torch.nn.Module):
        yield
        return
    modes = [(m, m.training) for m in module.modules()]
    grads = [(p, p.requires_grad) for p in module.parameters()]
    try:
        yield
    finally:
        for m, training in modes:
            m.training = training
        for p, flag in grads:
            p.requires_grad_(flag)


def _records_graph_on_cuda(module: torch.nn.Module) -> bool:
    """Whether this call of a recurrent ``module`` would hit cuDNN's eval-mode restriction:
    a graph is recorded (gradients enabled), the module is in eval mode and lives on CUDA."""
    return (
        torch.is_grad_enabled()
        and not module.training
        and any(p.is_cuda for p in module.parameters(recurse=False))
    )


@contextlib.contextmanager
def recurrent_backward_allowed(module: Any) -> Iterator[None]:
    """Run the recurrent layers of ``module`` without cuDNN where cuDNN has no backward.

    cuDNN's RNN kernels compute no gradient in eval mode ("cudnn RNN backward can only be
    called in training mode"), and switching the model to training mode would change what it
    computes (dropout between LSTM layers). Inside this context, each ``nn.RNNBase`` of
    ``module`` (LSTM, GRU, RNN) that records a graph on CUDA in eval mode runs its forward
    pass with cuDNN disabled, so PyTorch's native kernels (which have a backward) are used;
    every other layer, and every call without gradients, keeps cuDNN. The hooks are removed
    and cuDNN's flag restored on exit, also when an exception is raised.

    Examples
    --------
    >>> import torch
    >>> net = torch.nn.LSTM(3, 4).eval()
    >>> with recurrent_backward_allowed(net):
    ...     out, _ = net(torch.randn(5, 1, 3, requires_grad=True))
    >>> len(net._forward_pre_hooks), torch.backends.cudnn.enabled
    (0, True)
    """
    if not isinstance(module, torch.nn.Module):
        yield
        return
    recurrent = [m for m in module.modules() if isinstance(m, torch.nn.RNNBase)]
    if not recurrent:
        yield
        return
    enabled = torch.backends.cudnn.enabled

    def before(m: torch.nn.Module, args: tuple) -> None:
        if _records_graph_on_cuda(m):
            torch.backends.cudnn.enabled = False

    def after(m: torch.nn.Module, args: tuple, output: Any) -> None:
        torch.backends.cudnn.enabled = enabled

    handles = []
    try:
        for m in recurrent:
            handles.append(m.register_forward_pre_hook(before))
            handles.append(m.register_forward_hook(after, always_call=True))
        yield
    finally:
        for h in handles:
            h.remove()
        torch.backends.cudnn.enabled = enabled
