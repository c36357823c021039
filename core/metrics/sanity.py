"""Model-parameter randomisation test (Adebayo et al., 2018, "Sanity Checks for Saliency Maps")."""

from __future__ import annotations

import copy
from collections.abc import Callable
from typing import Any

import torch
from torch import Tensor, nn

from .._engine.batching import make_generator
from .._engine.inputs import TensorOrTuple, as_tuple
from ..errors import AttributionValueError
from ._common import average_ranks, flat_concat, require_pandas


def spearman(a: Tensor, b: Tensor) -> Tensor:
    """Spearman rank correlation of each row of ``a`` with the same row of ``b`` (tied
    values share their mean rank, as scipy's ``spearmanr``)."""
    ra, rb = average_ranks(a), average_ranks(b)
    ra, rb = ra - ra.mean(1, keepdim=True), rb - rb.mean(1, keepdim=True)
    return (ra * rb).sum(1) / (ra.norm(dim=1) * rb.norm(dim=1)).clamp(min=1e-12)


def _reinitialise(module: nn.Module, seed: int) -> None:
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        if hasattr(module, "reset_parameters"):
            module.reset_parameters()
        else:
            for p in module.parameters(recurse=False):
                nn.init.normal_(p, std=0.02)


def model_randomization(
    method_factory: Callable[[nn.Module], Any],
    model: nn.Module,
    inputs: TensorOrTuple,
    target: Any = None,
    layers: list[str] | None = None,
    absolute: bool = True,
    generator: int | torch.Generator | None = None,
    order: str = "cascading",
    **attribute_kwargs: Any,
):
    """Model parameter randomisation (Adebayo et al., 2018): re-initialise layers, on a copy
    of the model, and report how similar each attribution stays to the original.

    ``order="cascading"`` re-initialises the layers from the output down, cumulatively;
    ``"independent"`` re-initialises one layer at a time on a fresh copy (the others
    trained).

    A method whose maps barely change when the weights are destroyed does not explain the
    model. ``method_factory(model)`` builds the method (a class such as
    ``IntegratedGradients`` works); ``layers`` lists module names to randomise (by default
    every module with parameters of its own), randomised from the last to the first,
    cumulatively. The user's model is never modified.

    Returns
    -------
    pandas.DataFrame
        One row per step (``"none"`` first): the randomised ``layer`` and the mean Spearman
        ``rank_correlation`` with the original attribution (of ``|attribution|`` when
        ``absolute``), near 1 before randomisation and lower after for a sensible method.

    Examples
    --------
    >>> import torch
    >>> from perspicio.core import Saliency
    >>> net = torch.nn.Sequential(torch.nn.Linear(4, 8), torch.nn.ReLU(), torch.nn.Linear(8, 2))
    >>> report = model_randomization(Saliency, net, torch.randn(5, 4), target=1, generator=0)
    >>> report["layer"].tolist()
    ['none', '2', '0']
    """
    pd = require_pandas()
    steps, correlations = randomisation_correlations(
        method_factory,
        model,
        inputs,
        target,
        layers=layers,
        absolute=absolute,
        generator=generator,
        order=order,
        **attribute_kwargs,
    )
    return pd.DataFrame(
        {"layer": steps, "rank_correlation": [float(c.mean()) for c in correlations]}
    )


def randomisation_correlations(
    method_factory: Callable[[nn.Module], Any],
    model: nn.Module,
    inputs: TensorOrTuple,
    target: Any = None,
    layers: list[str] | None = None,
    absolute: bool = True,
    generator: int | torch.Generator | None = None,
    order: str = "cascading",
    **attribute_kwargs: Any,
) -> tuple[list[str], Tensor]:
    """:func:`model_randomization`'s steps (``"none"`` first, then the randomised layers)
    and each example's Spearman correlation with its original attribution at each step,
    ``(steps, N)``."""
    if order not in ("cascading", "independent"):
        raise AttributionValueError(f"`order` must be 'cascading' or 'independent', got {order!r}")
    gen = make_generator(0 if generator is None else generator)
    names = layers or [
        name for name, m in model.named_modules() if any(True for _ in m.parameters(recurse=False))
    ]
    modules = dict(model.named_modules())
    unknown = [name for name in names if name not in modules]
    if unknown:
        raise AttributionValueError(
            f"`layers` names modules that the model does not have: {unknown}"
        )

    def explain(net: nn.Module) -> Tensor:
        attr, _ = as_tuple(method_factory(net).attribute(inputs, target=target, **attribute_kwargs))
        flat = flat_concat(tuple(a.detach() for a in attr))
        return flat.abs() if absolute else flat

    original = explain(model)
    clone = copy.deepcopy(model)
    clone_modules = dict(clone.named_modules())
    steps, rows = ["none"], [spearman(original, explain(clone))]
    for name in reversed(names):
        seed = int(torch.randint(0, 2**31 - 1, (1,), generator=gen))
        if order == "independent":  # a fresh copy: only this layer randomised
            clone = copy.deepcopy(model)
            clone_modules = dict(clone.named_modules())
        _reinitialise(clone_modules[name], seed)
        steps.append(name)
        rows.append(spearman(original, explain(clone)))
    return steps, torch.stack(rows)
