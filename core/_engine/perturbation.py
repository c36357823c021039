"""The shared evaluator of every perturbation method.

A perturbation method is three parts: *what to perturb* (a sampler or an
enumeration of windows, feature groups, coalitions, permutations), this file's *batched
evaluator*, and *how to aggregate*. The evaluator builds all perturbations of a chunk as
one tensor (``torch.where`` over a mask, no per-feature Python loop), runs the model once per
chunk under ``torch.no_grad()``, and returns the targeted output of every perturbation of
every example, on the input's device.

``perturbations_per_eval="auto"`` sizes chunks with :func:`._batching.auto_rows`, from the
model's measured activation memory per row and a budget (``max_memory`` bytes).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import torch
from torch import Tensor

from ..errors import AttributionValueError
from .batching import Layout, auto_rows, chunk_slices, progress
from .incremental import occlusion_drops, window_chunk
from .inputs import Target, expand_additional_args
from .outputs import run_forward
from .precision import widen


def check_perturbations_per_eval(
    value: Any, name: str = "perturbations_per_eval", auto: bool = True
) -> int | str:
    """A positive int or (where ``auto``) ``"auto"``; anything else raises a ``ValueError``
    naming the argument ``name``."""
    if auto and value == "auto":
        return value
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        expected = 'a positive int or "auto"' if auto else "a positive int"
        raise AttributionValueError(f"`{name}` must be {expected}, got {value!r}")
    return value


def resolve_chunk(
    per_eval: int | str,
    forward_func: Callable,
    inputs: tuple[Tensor, ...],
    args: tuple,
    n_perturbations: int,
    max_memory: int | None = None,
) -> int:
    """Perturbations per model call: the user's int, or ``"auto"`` from the memory budget."""
    per_eval = check_perturbations_per_eval(per_eval)
    if per_eval != "auto":
        return min(per_eval, n_perturbations)
    rows = auto_rows(forward_func, inputs, args, max_memory)
    return max(1, min(n_perturbations, rows // max(inputs[0].shape[0], 1)))


def evaluate_chunk(
    forward_func: Callable,
    points: tuple[Tensor, ...],
    m: int,
    n: int,
    target: Target,
    args: tuple,
    layout: Layout | None = None,
) -> Tensor:
    """Targeted outputs of ``m`` perturbations of ``n`` examples, shape ``(m, n)``."""
    m_target, m_args = target.expand(m), expand_additional_args(args, n, m)
    with torch.no_grad():
        out = (layout or Layout()).call(
            lambda pts: run_forward(forward_func, pts, m_target, m_args, rows=m * n), points
        )
    if out.numel() != m * n:
        raise AttributionValueError(
            f"the model returned {out.numel()} values for {m * n} perturbed rows; "
            "perturbation methods need one output per example (select it with `target`)"
        )
    return out.reshape(m, n)


def evaluate(
    forward_func: Callable,
    build: Callable[[slice], tuple[Tensor, ...]],
    n_perturbations: int,
    n: int,
    target: Target,
    args: tuple,
    chunk: int,
    show_progress: bool = False,
    desc: str = "perturbations",
) -> Tensor:
    """Targeted outputs of all perturbations, shape ``(n_perturbations, n)``.

    ``build(sl)`` returns the inputs of perturbations ``sl``: ``len(sl)`` blocks of ``n``
    rows. Results do not depend on ``chunk``.
    """
    slices = chunk_slices(n_perturbations, chunk)
    layout = Layout()
    values = torch.cat(
        [
            evaluate_chunk(forward_func, build(sl), sl.stop - sl.start, n, target, args, layout)
            for sl in progress(slices, show_progress, desc, len(slices))
        ]
    )
    # Shapley weights and regressions need fractions: integer scores are taken as float64
    return values if values.is_floating_point() else widen(values)


def blend(mask: Tensor, replacement: Tensor, x: Tensor) -> Tensor:
    """``replacement`` where ``mask``, ``x`` elsewhere, for ``m`` perturbations of ``x``.

    ``mask``: ``(m, 1|n, ...)``; ``replacement``: broadcastable to ``(m, n, ...)``;
    ``x``: ``(n, ...)``. Returns ``(m * n, ...)`` rows in ``m`` blocks.
    """
    out = torch.where(mask, replacement, x.unsqueeze(0))
    rows = mask.shape[0] * x.shape[0]  # explicit: an input of no features has no -1 to infer
    return out.expand((mask.shape[0],) + x.shape).reshape((rows,) + x.shape[1:])


def ablate_and_compare(
    forward_func: Callable,
    inputs: tuple[Tensor, ...],
    target: Target,
    args: tuple,
    n_perturbations: int,
    masks: Callable[[slice], tuple[Tensor, ...]],
    replacements: Callable[[slice], tuple[Tensor, ...]],
    chunk: int,
    show_progress: bool = False,
    desc: str = "ablations",
) -> tuple[Tensor, ...]:
    """Average output drop over the perturbations that touch each element.

    Perturbation ``k`` replaces the elements where ``masks(k)`` holds by
    ``replacements(k)``; each element's attribution is the mean of ``F(x) - F(x_k)`` over
    the perturbations that touch it (0 if none do). For a partition (FeatureAblation) every
    element is touched once; for sliding windows (Occlusion) the mean runs over the windows
    that cover it.
    """
    n = inputs[0].shape[0]
    reference: Tensor | None = None
    sums: list[Tensor] = []
    counts: list[Tensor] = []
    slices = chunk_slices(n_perturbations, chunk)
    layout = Layout()
    for sl in progress(slices, show_progress, desc, len(slices)):
        m = sl.stop - sl.start
        mk, rp = masks(sl), replacements(sl)
        points = tuple(blend(k, r, x) for k, r, x in zip(mk, rp, inputs))
        if reference is None:
            # the unperturbed inputs ride along with the first chunk: one model call fewer,
            # which is a whole launch-bound forward pass on a GPU
            points = tuple(torch.cat([x, p]) for x, p in zip(inputs, points))
            try:
                outputs = evaluate_chunk(forward_func, points, m + 1, n, target, args, layout)
            except RuntimeError:
                # a function that only runs on its own batch (one loss against fixed labels,
                # say) fails on stacked rows: the batch alone tells whether it is one
                evaluate_chunk(forward_func, inputs, 1, n, target, args)  # AggregateOutput?
                raise
            reference, outputs = outputs[0], outputs[1:]
            sums = [torch.zeros(x.shape, dtype=reference.dtype, device=x.device) for x in inputs]
            counts = [torch.zeros_like(t) for t in sums]
        else:
            outputs = evaluate_chunk(forward_func, points, m, n, target, args, layout)
        drop = reference.unsqueeze(0) - outputs
        for i, k in enumerate(mk):
            sums[i] += (drop.view(drop.shape + (1,) * (inputs[i].dim() - 1)) * k).sum(0)
            counts[i] += k.sum(0)
    if not sums[0].is_floating_point():  # integer scores (Captum keeps their dtype)
        return tuple(
            torch.div(s, c.clamp(min=1), rounding_mode="floor") for s, c in zip(sums, counts)
        )
    return tuple(s / c.clamp(min=1) for s, c in zip(sums, counts))


def ablate(
    forward_func: Callable,
    inputs: tuple[Tensor, ...],
    baselines: tuple[Tensor, ...],
    target: Target,
    args: tuple,
    n_perturbations: int,
    masks: Callable[[slice], tuple[Tensor, ...]],
    *,
    per_eval: int | str,
    max_memory: int | None,
    plans: list | None,
    show_progress: bool,
    desc: str,
) -> tuple[Tensor, ...]:
    """The one ablation loop of FeatureAblation and Occlusion: perturbation ``k`` replaces the
    elements where ``masks(k)`` (shapes ``(m, 1|n, ...)``) holds by the baselines, and each
    element gets the mean output drop of the perturbations that touch it.

    ``perturbations_per_eval`` is checked here, once, whichever evaluation runs: with
    ``plans`` (:func:`._incremental.incremental_plans`) each example's perturbed copies are
    evaluated incrementally, otherwise all examples' in batched chunks
    (:func:`ablate_and_compare`). Both give the same numbers.
    """
    per_eval = check_perturbations_per_eval(per_eval)
    if plans is None:
        chunk = resolve_chunk(per_eval, forward_func, inputs, args, n_perturbations, max_memory)
        return ablate_and_compare(
            forward_func,
            inputs,
            target,
            args,
            n_perturbations,
            masks=masks,
            replacements=lambda sl: tuple(b.unsqueeze(0) for b in baselines),
            chunk=chunk,
            show_progress=show_progress,
            desc=desc,
        )
    chunk = window_chunk(per_eval, plans[0], max_memory)
    out = []
    for i, plan in enumerate(progress(plans, show_progress, desc, len(plans))):

        def row_masks(sl: slice, i: int = i) -> Tensor:
            mk = masks(sl)[0]
            return mk[:, 0 if mk.shape[1] == 1 else i]

        sums, counts = occlusion_drops(
            forward_func,
            inputs[0][i : i + 1],
            baselines[0][i : i + 1],
            row_masks,
            n_perturbations,
            target.row(i),
            chunk,
            plan,
        )
        out.append(sums / counts.clamp(min=1))
    return (torch.stack(out).to(inputs[0].dtype),)


def coalition_points(
    present: Tensor,
    inputs: tuple[Tensor, ...],
    baselines: tuple[Tensor, ...],
    groups: tuple[Tensor, ...],
) -> tuple[Tensor, ...]:
    """Inputs for coalitions: the input where a feature is present, the baseline elsewhere.

    ``present``: ``(m, F)`` booleans over feature positions ``0..F-1``, shared by every
    example; ``groups``: each element's feature position. Returns ``m`` blocks of ``n`` rows.
    """
    return tuple(
        blend(~present[:, g], b.unsqueeze(0), x) for x, b, g in zip(inputs, baselines, groups)
    )


def spread(
    values: Tensor, groups: tuple[Tensor, ...], inputs: tuple[Tensor, ...]
) -> tuple[Tensor, ...]:
    """Give every element the value of its feature; ``values`` is ``(n, F)``."""
    out = []
    for x, g in zip(inputs, groups):
        full = g.expand((x.shape[0],) + g.shape[1:])
        per_element = values.gather(1, full.reshape(x.shape[0], -1)).view(full.shape)
        out.append(per_element.expand(x.shape).contiguous())
    return tuple(out)
