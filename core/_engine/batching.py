"""Evaluating many inputs in chunks, random generators and progress bars."""

from __future__ import annotations

import contextlib
import weakref
from collections.abc import Callable, Iterable, Iterator
from typing import Any

import torch
from torch import Tensor
from torch.overrides import TorchFunctionMode
from tqdm.auto import tqdm

from ..errors import AttributionTypeError, AttributionValueError
from .hooks import CallHooks

#: On the CPU a chunk runs fastest while its activations stay in the caches: the 30-64-64-2
#: MLP evaluates 80,000 perturbed rows in 8 ms in chunks of 7,000 rows and in 17 ms at once;
#: the shapes CNN (64x64 images) 2.9x faster in chunks of 8 images than of 125.
CPU_CACHE_BYTES = 8 << 20
#: ...but a convolution needs a few rows to run at full speed (IntegratedGradients on
#: resnet18: 0.6 s in chunks of 7 rows, 0.8 s one row at a time), so a chunk gets at least
#: CPU_MIN_ROWS rows while they fit in CPU_CHUNK_BYTES.
CPU_MIN_ROWS = 8
CPU_CHUNK_BYTES = 256 << 20


def chunk_slices(total: int, size: int | None) -> list[slice]:
    """Split ``range(total)`` into consecutive slices of at most ``size`` items.

    Examples
    --------
    >>> chunk_slices(5, 2)
    [slice(0, 2, None), slice(2, 4, None), slice(4, 5, None)]
    """
    if size is None or size >= total:
        return [slice(0, total)]
    return [slice(i, min(i + size, total)) for i in range(0, total, size)]


def _gpu_budget(device: torch.device) -> int:
    free, _ = torch.cuda.mem_get_info(device)
    return free // 2


class _CountBytes(TorchFunctionMode):
    """Adds up the bytes of every tensor a torch operation creates (views excluded)."""

    def __init__(self) -> None:
        super().__init__()
        self.total = 0

    def __torch_function__(self, func, types, args=(), kwargs=None):  # noqa: D105
        out = func(*args, **(kwargs or {}))
        for t in out if isinstance(out, (tuple, list)) else (out,):
            if isinstance(t, Tensor) and t.dim() > 0 and not t._is_view():
                self.total += t.element_size() * t.numel()
        return out


def bytes_per_row(forward_func: Callable, inputs: tuple[Tensor, ...], args: tuple) -> int:
    """Memory one input row needs: its own bytes plus every activation it produces.

    Measured on a single row under ``no_grad``: with forward hooks on every submodule of a
    module, and for a plain function (a lambda around a model) by counting the output of
    every torch operation it runs. Summing all activations matches what a backward pass
    keeps and over-estimates a ``no_grad`` pass, which errs on the safe side. Hooks and the
    counting mode are removed even if the model raises.
    """
    row = tuple(x[:1] for x in inputs)
    input_bytes = sum(x.element_size() * x.numel() for x in row)
    row_args = tuple(
        a[:1] if isinstance(a, Tensor) and a.dim() > 0 and a.shape[0] == inputs[0].shape[0] else a
        for a in args
    )
    if not isinstance(forward_func, torch.nn.Module):
        counter = _CountBytes()
        try:
            with torch.no_grad(), counter:
                forward_func(*row, *row_args)
        except Exception:  # the real call raises again, with the user's full context
            return 32 * input_bytes
        return input_bytes + max(counter.total, input_bytes)
    total = [0]

    def count(module, inp, out):
        for t in out if isinstance(out, (tuple, list)) else (out,):
            if isinstance(t, Tensor):
                total[0] += t.element_size() * t.numel()

    try:
        with CallHooks() as hooks, torch.no_grad():  # this call's pass only
            for m in forward_func.modules():
                hooks.forward(m, count)
            forward_func(*row, *row_args)
    except Exception:  # the real call raises again, with the user's full context
        return 32 * input_bytes
    return input_bytes + max(total[0], input_bytes)


#: Measured bytes per row, per model (dropped with it) and input signature.
_MEASURED: weakref.WeakKeyDictionary = weakref.WeakKeyDictionary()


def _signature(forward_func: Callable, inputs: tuple[Tensor, ...], args: tuple) -> tuple:
    """What the memory per row depends on: the shapes of a row, dtypes, device, the
    model's mode and its module structure (not its weights)."""

    def describe(t: Any) -> Any:
        if isinstance(t, Tensor):
            return (tuple(t.shape[1:]), t.dtype, t.device)
        return type(t).__name__

    structure = (
        (forward_func.training, tuple(type(m).__name__ for m in forward_func.modules()))
        if isinstance(forward_func, torch.nn.Module)
        else None
    )
    return (tuple(describe(x) for x in inputs), tuple(describe(a) for a in args), structure)


def measured_bytes_per_row(forward_func: Callable, inputs: tuple[Tensor, ...], args: tuple) -> int:
    """:func:`bytes_per_row`, measured once per model and input signature.

    The probe is a forward pass with a hook on every module; on a GPU it costs as much as
    a small batch (about 4 ms for resnet18), so repeated calls on the same model reuse it.
    """
    try:
        cache = _MEASURED.setdefault(forward_func, {})
    except TypeError:  # not weak-referenceable
        return bytes_per_row(forward_func, inputs, args)
    key = _signature(forward_func, inputs, args)
    if key not in cache:
        cache[key] = bytes_per_row(forward_func, inputs, args)
    return cache[key]


def auto_rows(
    forward_func: Callable, inputs: tuple[Tensor, ...], args: tuple, max_memory: int | None = None
) -> int:
    """Rows per model call: as many as fit ``max_memory`` bytes when it is given; by
    default, half of the free memory of a GPU, and on the CPU as many as stay in the caches
    (:data:`CPU_CACHE_BYTES`) but no fewer than :data:`CPU_MIN_ROWS` while those fit in
    :data:`CPU_CHUNK_BYTES`."""
    per_row = max(measured_bytes_per_row(forward_func, inputs, args), 1)
    device = inputs[0].device
    if max_memory is not None:
        return max(1, max_memory // per_row)
    if device.type == "cuda":
        return max(1, _gpu_budget(device) // per_row)
    return max(1, CPU_CACHE_BYTES // per_row, min(CPU_MIN_ROWS, CPU_CHUNK_BYTES // per_row))


def steps_per_chunk(internal_batch_size: int | None, n_examples: int, n_steps: int) -> int:
    """How many replicas of an ``n_examples`` batch fit in ``internal_batch_size`` rows.

    At least one replica is always evaluated at a time.
    """
    if internal_batch_size is None:
        return n_steps
    if isinstance(internal_batch_size, bool) or not isinstance(internal_batch_size, int):
        raise AttributionValueError(
            f"`internal_batch_size` must be a positive int or None, got {internal_batch_size!r}"
        )
    if internal_batch_size < 1:
        raise AttributionValueError(
            f"`internal_batch_size` must be positive, got {internal_batch_size}"
        )
    return max(1, internal_batch_size // max(n_examples, 1))


#: Below this many rows channels-last loses: convolution weights are reordered on every
#: call (about 10 ms for resnet18 on this CPU), which only larger batches amortise.
CHANNELS_LAST_MIN_ROWS = 4


def _is_image(t: Any) -> bool:
    return (
        isinstance(t, Tensor)
        and t.dim() == 4
        and t.is_floating_point()
        and t.shape[0] >= CHANNELS_LAST_MIN_ROWS
    )


class Layout:
    """The memory layout in which one attribution call hands images to the model.

    Channels-last while :data:`perspicio.core.options.channels_last` is on and the model
    accepts it; after the model raises a ``RuntimeError`` on such a batch, the default
    layout for the rest of the call.
    """

    def __init__(self, gradients: bool = False) -> None:
        from ..options import options

        # backward passes in channels-last sum in another order: their float32 error grew
        # by a quarter on resnet18 for a tenth of the time, so gradients keep the default
        # layout unless asked (options.channels_last_gradients)
        self.channels_last = options.channels_last and (
            options.channels_last_gradients or not gradients
        )

    def convert(self, points: tuple[Tensor, ...]) -> tuple[Tensor, ...]:
        if not self.channels_last:
            return points
        return tuple(
            p.contiguous(memory_format=torch.channels_last) if _is_image(p) else p for p in points
        )

    def call(self, fn: Callable[[tuple[Tensor, ...]], Any], points: tuple[Tensor, ...]) -> Any:
        """``fn(points)``, with images channels-last when the model takes them."""
        if self.channels_last and any(_is_image(p) for p in points):
            try:
                return fn(self.convert(points))
            except RuntimeError:
                self.channels_last = False
        return fn(points)


@contextlib.contextmanager
def pooling_channels_last(model: Any, enabled: bool = True) -> Iterator[None]:
    """Inside the block, ``model``'s ``MaxPool2d`` layers take their input channels-last
    (hooks removed on exit, also when the model raises).

    A one-channel image stays in the default layout through a first convolution (its
    layout is ambiguous), and the default-layout max pooling of this CPU build is about 5x
    slower than the channels-last one (3.8 ms against 0.7 ms for 256 x 8 x 26 x 26); max
    pooling is exact in either layout, and the layers after it then run channels-last as
    :class:`Layout` runs them. Nothing happens unless ``enabled`` and ``model`` is a module.
    """
    if not enabled or not isinstance(model, torch.nn.Module):
        yield
        return

    def to_channels_last(module: torch.nn.Module, args: tuple) -> tuple | None:
        x = args[0] if args else None
        if isinstance(x, Tensor) and x.dim() == 4 and x.is_floating_point():
            return (x.contiguous(memory_format=torch.channels_last), *args[1:])
        return None

    with CallHooks() as hooks:  # this call's passes only
        for m in model.modules():
            if isinstance(m, torch.nn.MaxPool2d):
                hooks.forward_pre(m, to_channels_last)
        yield


def progress(iterable: Iterable[Any], show: bool, desc: str, total: int | None = None) -> Iterator:
    """Wrap ``iterable`` in a tqdm bar when ``show`` is true."""
    if not show:
        return iter(iterable)
    return iter(tqdm(iterable, desc=desc, total=total))


def make_generator(seed: int | torch.Generator | None) -> torch.Generator | None:
    """A CPU ``torch.Generator`` from a seed; ``None`` means the global random state.

    Random numbers are drawn on the CPU and moved to the input's device, so a seed gives the
    same draws on every device.
    """
    if seed is None or isinstance(seed, torch.Generator):
        return seed
    if isinstance(seed, bool) or not isinstance(seed, int):
        raise AttributionTypeError(
            f"`generator` must be an int seed or a torch.Generator, got {seed!r}"
        )
    return torch.Generator().manual_seed(seed)


def randn_like(x: torch.Tensor, generator: torch.Generator | None, shape=None) -> torch.Tensor:
    """Standard normal noise with the shape (default ``x.shape``) and device of ``x``."""
    shape = tuple(x.shape) if shape is None else tuple(shape)
    if generator is None or generator.device == x.device:
        return torch.randn(shape, generator=generator, dtype=x.dtype, device=x.device)
    return torch.randn(shape, generator=generator, dtype=x.dtype).to(x.device)


def rand(n: int, like: torch.Tensor, generator: torch.Generator | None) -> torch.Tensor:
    """``n`` uniform numbers in [0, 1) on the device and with the dtype of ``like``."""
    if generator is None or generator.device == like.device:
        return torch.rand(n, generator=generator, dtype=like.dtype, device=like.device)
    return torch.rand(n, generator=generator, dtype=like.dtype).to(like.device)


def randint(high: int, n: int, device: torch.device, generator: torch.Generator | None):
    """``n`` integers in [0, high) on ``device``."""
    if generator is None or generator.device == device:
        return torch.randint(high, (n,), generator=generator, device=device)
    return torch.randint(high, (n,), generator=generator).to(device)
