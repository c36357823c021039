"""Exact incremental evaluation of a CNN on occluded copies of one image.

An occlusion window changes a small region of the input; in the early layers only the
activations inside that region's receptive field change. The model is traced
(``torch.fx``); every node of its *spatial prefix* (convolutions, pooling, elementwise
functions, additions, concatenations) is evaluated for each window on a patch that covers
the changed region only, read from the unoccluded activations (computed once) overlaid by
the window's patch of the node's inputs. At the first global operation (adaptive pooling,
flatten, linear, a reshape) the patches are pasted into full activations and the rest of the
graph runs on them as usual. The result equals the full evaluation up to float rounding.

:class:`Plan` raises :class:`PlanError`, with the reason, for a model it cannot handle;
:func:`incremental_plans` turns that into None and the reason, and the caller
(:func:`._perturbation.ablate`) then evaluates the occluded images fully.
"""

from __future__ import annotations

import math
import operator
import threading
from dataclasses import dataclass
from typing import Any

import torch
import torch.fx as fx
import torch.nn.functional as F
from torch import Tensor, nn
from torch.fx.passes.shape_prop import ShapeProp

ELEMENTWISE_MODULES = (
    nn.ReLU,
    nn.ReLU6,
    nn.SiLU,
    nn.GELU,
    nn.Sigmoid,
    nn.Tanh,
    nn.Hardswish,
    nn.Hardsigmoid,
    nn.LeakyReLU,
    nn.ELU,
    nn.Identity,
    nn.Dropout,
    nn.BatchNorm2d,
)
ELEMENTWISE_FUNCTIONS = (
    F.relu,
    torch.relu,
    F.relu6,
    F.silu,
    F.gelu,
    torch.sigmoid,
    torch.tanh,
    F.hardswish,
)
BINARY = (operator.add, torch.add, operator.mul, torch.mul)


class PlanError(Exception):
    """Why a model cannot be evaluated incrementally."""


class _CallingThreadTracer(fx.Tracer):
    """torch.fx's tracer, blind to other threads.

    While it traces, torch.fx replaces ``nn.Module.__call__`` and ``__getattr__`` for the
    whole process; a forward pass another thread runs meanwhile (another caller explaining
    the same model, or any model) would be recorded into this trace, or fail. This tracer
    hands those calls straight to the module, so only the tracing thread's pass is traced.
    """

    def __init__(self) -> None:
        super().__init__()
        self._thread = threading.get_ident()

    def call_module(self, m: nn.Module, forward: Any, args: tuple, kwargs: dict) -> Any:  # noqa: D102
        if threading.get_ident() != self._thread:
            return forward(*args, **kwargs)
        return super().call_module(m, forward, args, kwargs)

    def getattr(self, attr: str, attr_val: Any, parameter_proxy_cache: dict) -> Any:  # noqa: D102
        if threading.get_ident() != self._thread:
            return attr_val
        return super().getattr(attr, attr_val, parameter_proxy_cache)


#: torch.fx's patches are process-wide: two traces at once would undo each other's
_TRACING = threading.Lock()


def trace(model: nn.Module) -> fx.GraphModule:
    """``torch.fx.symbolic_trace(model)``, safe beside other threads' forward passes: one
    trace at a time, and passes of other threads run untouched while it lasts."""
    with _TRACING:
        graph = _CallingThreadTracer().trace(model)
    name = model.__class__.__name__
    return fx.GraphModule(model, graph, name)


@dataclass
class Patch:
    """Per window: the region ``rows[i]:rows[i]+h, cols[i]:cols[i]+w`` of a node's output and
    its values ``(m, C, h, w)``."""

    rows: Tensor
    cols: Tensor
    values: Tensor

    @property
    def size(self) -> tuple[int, int]:
        return self.values.shape[2], self.values.shape[3]


def _pair(v: Any) -> tuple[int, int]:
    return tuple(v) if isinstance(v, (tuple, list)) else (v, v)


class Plan:
    """A traced model, its node kinds and the unoccluded activations of one image."""

    def __init__(self, model: nn.Module, image: Tensor) -> None:
        if image.dim() != 4 or image.shape[0] != 1:
            raise PlanError("incremental evaluation explains one image (1, C, H, W) at a time")
        try:
            self.gm = trace(model)
        except Exception as err:  # noqa: BLE001 - any tracing failure: evaluate fully
            raise PlanError(f"the model cannot be traced with torch.fx: {err}") from None
        self.modules = dict(self.gm.named_modules())
        with torch.no_grad():
            ShapeProp(self.gm).propagate(image)
        self.base: dict[fx.Node, Any] = {}
        self._padded: dict[tuple, Tensor] = {}
        #: when a dict, the patch area of every window node is recorded in it (estimates)
        self.areas: dict[fx.Node, int] | None = None
        self.kind: dict[fx.Node, str] = {}
        self._classify()
        with torch.no_grad():
            self._run_base(image)

    # ------------------------------------------------------------------ analysis
    def _spatial_kind(self, n: fx.Node) -> str | None:
        """How a node acting on a changed 4-D tensor can be evaluated on patches."""
        meta = n.meta.get("tensor_meta")
        if meta is None or not hasattr(meta, "shape") or len(meta.shape) != 4:
            return None
        if n.op == "call_module":
            m = self.modules[n.target]
            if (
                isinstance(m, nn.Conv2d)
                and m.padding_mode == "zeros"
                and not isinstance(m.padding, str)
            ):
                return "window"
            if isinstance(m, nn.MaxPool2d) and not m.ceil_mode and not m.return_indices:
                return "window"
            if (
                isinstance(m, nn.AvgPool2d)
                and not m.ceil_mode
                and m.count_include_pad
                and (m.divisor_override is None)
            ):
                return "window"
            if isinstance(m, ELEMENTWISE_MODULES) and not (
                isinstance(m, nn.BatchNorm2d) and m.training
            ):
                return "elementwise"
            return None
        if n.op == "call_function":
            if n.target in ELEMENTWISE_FUNCTIONS and not n.kwargs.get("inplace", False):
                return "elementwise"
            if n.target in BINARY:
                return "binary"
            if n.target is torch.cat and (
                n.kwargs.get("dim", n.args[1] if len(n.args) > 1 else 0) in (1, -3)
            ):
                return "cat"
        return None

    def _classify(self) -> None:
        changed: set[fx.Node] = set()
        self.global_from = None
        for n in self.gm.graph.nodes:
            if n.op == "placeholder":
                if changed:
                    raise PlanError("the model takes several inputs")
                changed.add(n)
                self.kind[n] = "input"
                continue
            if not any(a in changed for a in n.all_input_nodes):
                self.kind[n] = "constant"
                continue
            changed.add(n)
            inputs_spatial = all(
                self.kind.get(a) not in ("full",) for a in n.all_input_nodes if a in changed
            )
            kind = self._spatial_kind(n) if inputs_spatial else None
            self.kind[n] = kind or "full"

    # --------------------------------------------------------------- evaluation
    def _run_base(self, image: Tensor) -> None:
        env: dict[fx.Node, Any] = {}
        for n in self.gm.graph.nodes:
            if n.op == "placeholder":
                env[n] = image
            elif n.op == "output":
                self.output_node = n
            else:
                env[n] = self._execute(n, env)
        self.base = env

    def _execute(self, n: fx.Node, env: dict) -> Any:
        if n.op == "get_attr":
            obj = self.gm
            for part in n.target.split("."):
                obj = getattr(obj, part)
            return obj
        args = fx.node.map_arg(n.args, lambda a: env[a])
        kwargs = fx.node.map_arg(n.kwargs, lambda a: env[a])
        return self._call(n, args, kwargs)

    def output(self) -> Any:
        """The model's output on the unoccluded image."""
        return fx.node.map_arg(self.output_node.args[0], lambda a: self.base[a])

    def _crop(
        self,
        n: fx.Node,
        patches: dict,
        rows: Tensor,
        cols: Tensor,
        h: int,
        w: int,
        pad: tuple[int, int] = (0, 0),
        fill: float = 0.0,
    ) -> Tensor:
        """Node ``n``'s values in ``rows[i]:rows[i]+h, cols[i]:cols[i]+w`` per window (in the
        coordinates of the map padded by ``pad``): the unoccluded activation, overlaid by the
        window's patch. Slices, not gathers: every window's region is one strided copy."""
        base = self.base[n]
        if pad != (0, 0):  # the padded map is the same for every chunk of windows
            key = (n, pad, fill)
            if key not in self._padded:
                self._padded[key] = F.pad(base, (pad[1], pad[1], pad[0], pad[0]), value=fill)
            base = self._padded[key]
        r0s, c0s = rows.tolist(), cols.tolist()
        if h == base.shape[2] and w == base.shape[3]:
            out = base.expand(len(r0s), -1, -1, -1).clone()
        else:  # every (h, w) window of the map as a strided view, then one gather
            b = base[0]
            sc, sh, sw = b.stride()
            view = b.as_strided(
                (b.shape[1] - h + 1, b.shape[2] - w + 1, b.shape[0], h, w), (sh, sw, sc, sh, sw)
            )
            out = view[rows.to(b.device), cols.to(b.device)]
        p = patches.get(n)
        if p is None:
            return out
        ph, pw = p.size
        for i, (r, c, pr, pc) in enumerate(zip(r0s, c0s, p.rows.tolist(), p.cols.tolist())):
            pr, pc = pr + pad[0], pc + pad[1]  # the patch in padded coordinates
            a0, a1 = max(r, pr), min(r + h, pr + ph)
            b0, b1 = max(c, pc), min(c + w, pc + pw)
            if a0 < a1 and b0 < b1:
                out[i, :, a0 - r : a1 - r, b0 - c : b1 - c] = p.values[
                    i, :, a0 - pr : a1 - pr, b0 - pc : b1 - pc
                ]
        return out

    def _window(self, n: fx.Node, patches: dict) -> Patch:
        m = self.modules[n.target]
        (src,) = [a for a in n.all_input_nodes]
        p = patches[src]
        k, s = _pair(m.kernel_size), _pair(m.stride if m.stride is not None else m.kernel_size)
        pad, d = _pair(m.padding), _pair(getattr(m, "dilation", 1))
        out_h, out_w = n.meta["tensor_meta"].shape[2:]
        ph, pw = p.size
        lo_r = torch.clamp(
            torch.div(p.rows + pad[0] - (k[0] - 1) * d[0] + s[0] - 1, s[0], rounding_mode="floor"),
            min=0,
        )
        hi_r = torch.clamp(
            torch.div(p.rows + ph - 1 + pad[0], s[0], rounding_mode="floor") + 1, max=out_h
        )
        lo_c = torch.clamp(
            torch.div(p.cols + pad[1] - (k[1] - 1) * d[1] + s[1] - 1, s[1], rounding_mode="floor"),
            min=0,
        )
        hi_c = torch.clamp(
            torch.div(p.cols + pw - 1 + pad[1], s[1], rounding_mode="floor") + 1, max=out_w
        )
        h, w = int((hi_r - lo_r).max()), int((hi_c - lo_c).max())
        rows = torch.clamp(lo_r, max=out_h - h)
        cols = torch.clamp(lo_c, max=out_w - w)
        in_h, in_w = (h - 1) * s[0] + (k[0] - 1) * d[0] + 1, (w - 1) * s[1] + (k[1] - 1) * d[1] + 1
        fill = -math.inf if isinstance(m, nn.MaxPool2d) else 0.0
        crop = self._crop(src, patches, rows * s[0], cols * s[1], in_h, in_w, pad, fill)
        if isinstance(m, nn.Conv2d):
            out = F.conv2d(crop, m.weight, m.bias, m.stride, 0, m.dilation, m.groups)
        elif isinstance(m, nn.MaxPool2d):
            out = F.max_pool2d(crop, m.kernel_size, m.stride, 0, m.dilation)
        else:
            out = F.avg_pool2d(crop, m.kernel_size, m.stride, 0)
        if self.areas is not None:
            self.areas[n] = out.shape[2] * out.shape[3]
        return Patch(rows, cols, out)

    def _union(self, n: fx.Node, patches: dict) -> tuple[list, Tensor, Tensor, int, int]:
        srcs = [a for a in n.all_input_nodes if a in patches]
        out_h, out_w = n.meta["tensor_meta"].shape[2:]
        lo_r = torch.stack([patches[a].rows for a in srcs]).min(0).values
        lo_c = torch.stack([patches[a].cols for a in srcs]).min(0).values
        hi_r = torch.stack([patches[a].rows + patches[a].size[0] for a in srcs]).max(0).values
        hi_c = torch.stack([patches[a].cols + patches[a].size[1] for a in srcs]).max(0).values
        h, w = int((hi_r - lo_r).max()), int((hi_c - lo_c).max())
        return srcs, lo_r.clamp(max=out_h - h), lo_c.clamp(max=out_w - w), h, w

    def evaluate(self, occluded: Patch) -> Tensor:
        """The model's output for each window: ``occluded`` holds the input's patches."""
        patches: dict[fx.Node, Patch] = {}
        env: dict[fx.Node, Any] = {}
        m = occluded.values.shape[0]
        for n in self.gm.graph.nodes:
            kind = self.kind.get(n)
            if n.op == "output":
                result = fx.node.map_arg(n.args[0], lambda a: env.get(a, self.base[a]))
                return result
            if kind == "input":
                patches[n] = occluded
            elif kind == "constant":
                continue
            elif kind == "window":
                patches[n] = self._window(n, patches)
            elif kind == "elementwise":
                (src,) = [a for a in n.all_input_nodes if a in patches]
                p = patches[src]
                if n.op == "call_module":
                    values = self.modules[n.target](p.values)
                else:
                    args = fx.node.map_arg(
                        n.args, lambda a, p=p, src=src: p.values if a is src else self.base[a]
                    )
                    values = n.target(*args, **n.kwargs)
                patches[n] = Patch(p.rows, p.cols, values)
            elif kind in ("binary", "cat"):
                srcs, rows, cols, h, w = self._union(n, patches)
                crops = {
                    a: self._crop(a, patches, rows, cols, h, w)
                    for a in n.all_input_nodes
                    if isinstance(self.base.get(a), Tensor) and self.base[a].dim() == 4
                }
                args = fx.node.map_arg(
                    n.args, lambda a, crops=crops: crops.get(a, self.base.get(a))
                )
                patches[n] = Patch(rows, cols, n.target(*args, **n.kwargs))
            else:  # full: every changed input as a whole map per window

                def full(a: fx.Node) -> Any:
                    if a in env:
                        return env[a]
                    if a in patches:
                        b = self.base[a]
                        h, w = b.shape[2:]
                        zero = torch.zeros(m, dtype=torch.long, device=b.device)
                        env[a] = self._crop(a, patches, zero, zero, h, w)
                        return env[a]
                    return self.base[a]

                args = fx.node.map_arg(n.args, full)
                kwargs = fx.node.map_arg(n.kwargs, full)
                env[n] = self._call(n, args, kwargs)
        raise PlanError("the graph has no output")

    def _call(self, n: fx.Node, args: Any, kwargs: Any) -> Any:
        if n.op == "call_module":
            return self.modules[n.target](*args, **kwargs)
        if n.op == "call_function":
            return n.target(*args, **kwargs)
        if n.op == "call_method":
            return getattr(args[0], n.target)(*args[1:], **kwargs)
        raise PlanError(f"node {n.op} {n.target} is not supported")


# ------------------------------------------------------------------ occlusion driver
def conv_savings(
    plan: Plan, box: tuple[int, int], image_hw: tuple[int, int]
) -> tuple[float, float]:
    """The convolutions' multiply-adds for one image, and their ratio to those of one
    window's patches (a window of ``box`` in the middle of the image): above 1 when
    incremental evaluation does less arithmetic."""
    (h, w), (H, W) = box, image_hw
    rows = torch.tensor([(H - h) // 2])
    cols = torch.tensor([(W - w) // 2])
    x = plan.base[next(n for n in plan.gm.graph.nodes if n.op == "placeholder")]
    plan.areas = {}
    try:
        with torch.no_grad():
            plan.evaluate(Patch(rows, cols, x[:, :, :h, :w].clone()))
        areas = plan.areas
    finally:
        plan.areas = None
    full = inc = 0.0
    for n in plan.gm.graph.nodes:
        if n.op != "call_module" or not isinstance(plan.modules[n.target], nn.Conv2d):
            continue
        m = plan.modules[n.target]
        per = m.out_channels * m.in_channels // m.groups * math.prod(m.kernel_size)
        out_h, out_w = n.meta["tensor_meta"].shape[2:]
        full += per * out_h * out_w
        inc += per * areas.get(n, out_h * out_w)
    return full, (full / inc if inc else 1.0)


def occlusion_drops(
    model: nn.Module,
    x: Tensor,
    baseline: Tensor,
    masks: Any,
    n_windows: int,
    target: Any,
    chunk: int,
    plan: Plan | None = None,
) -> tuple[Tensor, Tensor]:
    """Sums and counts of ``F(x) - F(x_w)`` over the windows covering each element of one
    image ``x`` ``(1, C, H, W)``, the occluded copies evaluated incrementally.

    ``masks(slice)`` gives the perturbations' boolean masks ``(m, C, H, W)`` (windows, or
    feature groups such as superpixels); ``target`` (a normalised target of this example)
    picks the explained output."""
    plan = plan or Plan(model, x)
    reference = _select(target, plan.output())
    sums = torch.zeros_like(x[0], dtype=reference.dtype)
    counts = torch.zeros_like(x[0], dtype=reference.dtype)
    H, W = x.shape[2:]
    for start in range(0, n_windows, chunk):
        sl = slice(start, min(n_windows, start + chunk))
        mk = masks(sl).expand(-1, x.shape[1], -1, -1)  # (m, C, H, W)
        m = mk.shape[0]
        spatial = mk.any(1)  # (m, H, W)
        hit_r, hit_c = spatial.any(2), spatial.any(1)
        r0 = hit_r.float().argmax(1)
        c0 = hit_c.float().argmax(1)
        h = int(hit_r.sum(1).max())
        w = int(hit_c.sum(1).max())
        rows, cols = r0.clamp(max=H - h), c0.clamp(max=W - w)
        r = rows[:, None] + torch.arange(h, device=x.device)
        c = cols[:, None] + torch.arange(w, device=x.device)
        idx = torch.arange(m, device=x.device)[:, None, None]
        crop_mask = mk[idx, :, r[:, :, None], c[:, None, :]].permute(0, 3, 1, 2)
        crop_x = x[0][:, r[:, :, None], c[:, None, :]].permute(1, 0, 2, 3)
        crop_b = baseline.expand_as(x)[0][:, r[:, :, None], c[:, None, :]].permute(1, 0, 2, 3)
        values = torch.where(crop_mask, crop_b, crop_x)
        with torch.no_grad():
            out = plan.evaluate(Patch(rows, cols, values))
        drop = reference - _select(target, out)
        sums += (drop.view(-1, 1, 1, 1).to(sums.dtype) * mk).sum(0)
        counts += mk.sum(0)
    return sums, counts


def _select(target: Any, out: Tensor) -> Tensor:
    """The target of one example applied to ``m`` outputs of occluded copies of it."""
    if target.per_example is not None:
        target = type(target)(per_example=target.per_example.expand(out.shape[0], -1))
    return target.select(out)


#: "auto" evaluates incrementally when that skips at least this factor of multiply-adds
AUTO_MIN_SAVINGS = 1.5
#: ... of a model that does at least this many per image (smaller ones are overhead-bound)
AUTO_MIN_MACS = 1e8
#: ... on images of at least this many pixels (checked first: it costs no forward pass)
AUTO_MIN_PIXELS = 32 * 32


def incremental_plans(
    model: Any, xs: tuple, args: tuple, box: tuple[int, int], incremental: bool | str
) -> tuple[list[Plan] | None, str | None]:
    """One :class:`Plan` per example when incremental evaluation applies, else None and the
    reason. ``box`` is a typical perturbation's spatial extent, for the "auto" estimate."""
    from ..errors import AttributionValueError

    if incremental not in (True, False, "auto"):
        raise AttributionValueError(
            f"`incremental` must be True, False or 'auto', got {incremental!r}"
        )
    if incremental is False:
        return None, "incremental=False"
    reason = None
    if not isinstance(model, nn.Module):
        reason = "the forward function is not a torch.nn.Module"
    elif len(xs) != 1 or xs[0].dim() != 4 or not xs[0].is_floating_point():
        reason = "it needs one floating-point input of shape (N, C, H, W)"
    elif args:
        reason = "the model takes additional forward arguments"
    elif model.training:
        reason = "the model is in training mode (batch statistics, dropout)"
    elif incremental == "auto" and xs[0].shape[-2] * xs[0].shape[-1] < AUTO_MIN_PIXELS:
        reason = f"the image is small (under {AUTO_MIN_PIXELS} pixels): batching beats skipping"
    plans = None
    if reason is None:
        try:
            plans = [Plan(model, xs[0][:1])]
        except PlanError as err:
            reason = str(err)
    if reason is None and incremental == "auto":
        macs, saving = conv_savings(plans[0], box, tuple(xs[0].shape[-2:]))
        if macs < AUTO_MIN_MACS:
            reason = (
                f"the model is small ({macs / 1e6:.1f}M multiply-adds per image, below "
                f"{AUTO_MIN_MACS / 1e6:.0f}M): batching beats skipping work"
            )
        elif saving < AUTO_MIN_SAVINGS:
            reason = (
                f"it would skip too little: {saving:.2f}x fewer multiply-adds, below "
                f"{AUTO_MIN_SAVINGS}x"
            )
    if reason is not None:
        if incremental is True:
            raise AttributionValueError(f"`incremental=True`, but {reason}")
        return None, reason
    plans += [Plan(model, xs[0][i : i + 1]) for i in range(1, xs[0].shape[0])]
    return plans, None


def window_chunk(per_eval: Any, plan: Plan, max_memory: int | None = None) -> int:
    """Windows per incremental evaluation: the user's int, or for "auto" as many as keep the
    maps evaluated in full (after the first global operation; the patches before it are
    small) within a budget: ``max_memory``, half the free memory of a GPU, 256 MB on a CPU."""
    if isinstance(per_eval, int) and not isinstance(per_eval, bool):
        return per_eval
    full = [t for n, t in plan.base.items() if plan.kind.get(n) == "full" and isinstance(t, Tensor)]
    per_window = 4 * max((t.numel() * t.element_size() for t in full), default=1)
    device = next(iter(full), torch.empty(0)).device
    if max_memory is None:
        from .batching import _gpu_budget

        max_memory = _gpu_budget(device) if device.type == "cuda" else 2**28
    return int(min(1024 if device.type == "cuda" else 256, max(8, max_memory // per_window)))
