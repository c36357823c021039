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
* :class:`CallHooks` attaches module hooks for one call: each acts only on the forward passes
  run in the context (thread) that attached it, so several threads can explain one shared
  model at once, and all are removed on exit.

Nothing here attaches anything that outlives the ``with`` block.

Sharing a model between threads
-------------------------------
Module hooks live on the module, where every thread's forward pass sees them. perspicio's
hooks are therefore *scoped*: each is registered through :class:`CallHooks`, whose token is
held in a :class:`contextvars.ContextVar`, and a hook does nothing in a pass whose context
does not hold its token (another thread, or code outside the ``with`` block). Torch function
rules (:class:`FunctionRules`) are a :class:`~torch.overrides.TorchFunctionMode`, whose stack
is per thread. Backward rules are attached to the call's own tensors, so they hold when
autograd runs the backward pass on its own threads (CUDA). The one change made to the model
itself, its train/eval flags and ``requires_grad`` (:func:`preserved_state`), is counted per
model under a lock: the first call that enters takes the snapshot, the last that leaves
restores it. A forward pass that perspicio runs in a thread *it* starts would not see the
hooks; none does.
"""

from __future__ import annotations

import contextlib
import contextvars
import functools
import inspect
import threading
import weakref
from collections.abc import Callable, Iterator, Mapping
from typing import Any

import torch
from torch import Tensor
from torch.overrides import TorchFunctionMode

Rule = Callable[[Callable, tuple, dict], Any]

#: the tokens of the :class:`CallHooks` blocks the current context is inside
_SCOPES: contextvars.ContextVar[frozenset] = contextvars.ContextVar(
    "perspicio_hook_scopes", default=frozenset()
)


class CallHooks:
    """Module hooks for one call: each acts only on the forward passes run in the context
    that attached it (the calling thread, inside the ``with`` block), and all are removed
    on exit, also when an exception is raised.

    Examples
    --------
    >>> import threading, torch
    >>> net = torch.nn.Linear(2, 1)
    >>> seen = []
    >>> with CallHooks() as hooks:
    ...     _ = hooks.forward(net, lambda m, args, out: seen.append("mine"))
    ...     _ = net(torch.ones(1, 2))
    ...     other = threading.Thread(target=net, args=(torch.ones(1, 2),))
    ...     other.start(); other.join()  # another thread's pass: the hook does nothing
    >>> seen, len(net._forward_hooks)
    (['mine'], 0)
    """

    def __init__(self) -> None:
        self._token = object()
        self._handles: list[Any] = []
        self._reset: contextvars.Token | None = None

    def __enter__(self) -> CallHooks:
        self._reset = _SCOPES.set(_SCOPES.get() | {self._token})
        return self

    def __exit__(self, *exc: Any) -> None:
        for handle in self._handles:
            handle.remove()
        self._handles.clear()
        if self._reset is not None:
            _SCOPES.reset(self._reset)
            self._reset = None

    def own(self, hook: Callable) -> Callable:
        """``hook``, acting only in this block's context (elsewhere it returns None, which
        module hooks read as "change nothing")."""
        token = self._token

        @functools.wraps(hook)
        def scoped(*args: Any, **kwargs: Any) -> Any:
            if token in _SCOPES.get():
                return hook(*args, **kwargs)
            return None

        return scoped

    def forward(self, module: torch.nn.Module, hook: Callable, **kwargs: Any) -> Any:
        """``module.register_forward_hook`` of the scoped ``hook``; removed on exit."""
        handle = module.register_forward_hook(self.own(hook), **kwargs)
        self._handles.append(handle)
        return handle

    def forward_pre(self, module: torch.nn.Module, hook: Callable, **kwargs: Any) -> Any:
        """``module.register_forward_pre_hook`` of the scoped ``hook``; removed on exit."""
        handle = module.register_forward_pre_hook(self.own(hook), **kwargs)
        self._handles.append(handle)
        return handle


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


class _SharedState:
    """The calls inside :func:`preserved_state` on one model, and the state to restore."""

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.calls = 0
        self.modes: list[tuple[torch.nn.Module, bool]] = []
        self.grads: list[tuple[torch.Tensor, bool]] = []


_STATES: weakref.WeakKeyDictionary = weakref.WeakKeyDictionary()
_STATES_LOCK = threading.Lock()


@contextlib.contextmanager
def preserved_state(module: Any) -> Iterator[None]:
    """Restore train/eval flags and parameters' ``requires_grad`` of ``module`` on exit.

    Calls on one model from several threads share the snapshot: the first to enter takes
    it and the last to leave restores it (a per-model lock held for those two moments only),
    so a call never restores the model under another call that is still running.

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
    with _STATES_LOCK:
        shared = _STATES.setdefault(module, _SharedState())
    with shared.lock:
        if shared.calls == 0:
            shared.modes = [(m, m.training) for m in module.modules()]
            shared.grads = [(p, p.requires_grad) for p in module.parameters()]
        shared.calls += 1
    try:
        yield
    finally:
        with shared.lock:
            shared.calls -= 1
            if shared.calls == 0:
                for m, training in shared.modes:
                    m.training = training
                for p, flag in shared.grads:
                    p.requires_grad_(flag)
                shared.modes, shared.grads = [], []


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
    every other layer, and every call without gradients, keeps cuDNN. The hooks act only on
    the calling thread's passes; cuDNN's flag is one for the process, so such layers of
    concurrent calls take turns. The hooks are removed and cuDNN's flag restored on exit,
    also when an exception is raised.

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
    held: list[bool] = []  # the passes of this call that hold the cuDNN switch

    def before(m: torch.nn.Module, args: tuple) -> None:
        if _records_graph_on_cuda(m):
            _cudnn_off()
            held.append(True)

    def after(m: torch.nn.Module, args: tuple, output: Any) -> None:
        if held:
            held.pop()
            _cudnn_back()

    with CallHooks() as hooks:
        for m in recurrent:
            hooks.forward_pre(m, before)
            hooks.forward(m, after, always_call=True)
        try:
            yield
        finally:
            while held:  # a pass that raised between the two hooks
                held.pop()
                _cudnn_back()


#: cuDNN's on/off flag is one for the whole process: the calls that turn it off for a
#: recurrent layer's forward pass take turns (other threads' layers meanwhile use PyTorch's
#: native kernels, which compute the same function); within a thread the switch nests (a
#: NoiseTunnel around a method, an LSTM inside an LSTM), and the outermost holder restores
#: the flag it found
_CUDNN_SWITCH = threading.RLock()
_CUDNN_HOLDER = threading.local()


def _cudnn_off() -> None:
    _CUDNN_SWITCH.acquire()
    depth = getattr(_CUDNN_HOLDER, "depth", 0)
    if depth == 0:
        _CUDNN_HOLDER.found = torch.backends.cudnn.enabled
    _CUDNN_HOLDER.depth = depth + 1
    torch.backends.cudnn.enabled = False


def _cudnn_back() -> None:
    _CUDNN_HOLDER.depth -= 1
    if _CUDNN_HOLDER.depth == 0:
        torch.backends.cudnn.enabled = _CUDNN_HOLDER.found
    _CUDNN_SWITCH.release()
