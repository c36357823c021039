r"""Non-sensitivity (Nguyen and Martínez, 2020, "On quantitative aspects of model
interpretability"): an explanation should give no attribution to what the model ignores,
and some to what it does not.

Each group of ``features_in_step`` elements (in the input's order) is set to the baseline;
the group is *ignored by the model* when the explained output moves by less than ``eps``,
and *ignored by the explanation* when every one of its attributions, relative to the
example's largest, is below ``eps``. The score counts the groups where the two disagree.
Lower is better (0: the explanation's zeros are exactly the model's).
"""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import Any

import torch
from torch import Tensor

from .._engine.inputs import TargetType, format_additional_args, format_target
from .._engine.outputs import run_forward
from .._engine.perturbation import evaluate, resolve_chunk
from ._common import check_features_in_step
from .faithfulness_correlation import baseline_values, flat_attributions


@torch.no_grad()
def non_sensitivity(
    forward_func: Callable,
    inputs: Tensor,
    attributions: Tensor,
    target: TargetType = None,
    *,
    eps: float = 1e-5,
    features_in_step: int = 1,
    baseline: Any = "black",
    additional_forward_args: Any = None,
    perturbations_per_eval: int | str = "auto",
) -> Tensor:
    """The number of feature groups whose attribution and effect disagree (one is zero, the
    other not), per example. Lower is better.

    Attributions are scaled by each example's largest magnitude before the ``eps`` test
    (Quantus' ``NonSensitivity`` scales by the batch's largest; with
    ``features_in_step > 1`` it also compares per-group output changes with per-element
    attributions, which here are grouped alike).

    Examples
    --------
    >>> import torch
    >>> net = torch.nn.Linear(4, 1, bias=False)
    >>> with torch.no_grad():
    ...     _ = net.weight.copy_(torch.tensor([[1.0, 0.0, 2.0, 0.0]]))  # ignores 2 features
    >>> x = torch.ones(1, 4)
    >>> non_sensitivity(net, x, x * net.weight, baseline=0.0).tolist()
    [0]
    >>> non_sensitivity(net, x, torch.ones(1, 4), baseline=0.0).tolist()  # credits them
    [2]
    """
    n = inputs.shape[0]
    a = flat_attributions(inputs, attributions).abs().double()
    n_features = a.shape[1]
    check_features_in_step(features_in_step, n_features)
    n_groups = math.ceil(n_features / features_in_step)
    group = torch.arange(n_features, device=a.device) // features_in_step
    top = a.amax(1, keepdim=True)
    scaled = a / torch.where(top > 0, top, torch.ones_like(top))
    small = torch.zeros(n, n_groups, dtype=torch.long, device=a.device)
    small.index_add_(1, group, (scaled >= eps).long())
    explanation_ignores = small == 0
    base = baseline_values(inputs, baseline).reshape(n, -1)
    flat = inputs.reshape(n, -1)
    tgt = format_target(target, n)
    args = format_additional_args(additional_forward_args)
    full = run_forward(forward_func, (inputs,), tgt, args)

    def build(sl: slice) -> tuple[Tensor, ...]:
        k = torch.arange(sl.start, sl.stop, device=flat.device).view(-1, 1, 1)
        gone = group.view(1, 1, -1) == k  # (m, 1, D)
        points = torch.where(gone, base.unsqueeze(0), flat.unsqueeze(0))
        return (points.reshape((-1,) + inputs.shape[1:]),)

    chunk = resolve_chunk(perturbations_per_eval, forward_func, (inputs,), args, n_groups)
    out = evaluate(forward_func, build, n_groups, n, tgt, args, chunk).t()  # (n, groups)
    model_ignores = (out - full.unsqueeze(1)).abs() < eps
    return (model_ignores ^ explanation_ignores).sum(1)
