r"""Per-example gradients of the loss with respect to chosen parameters, a batch at a time.

For a batch of examples ``z_i = (x_i, y_i)`` and parameters ``θ``, the rows of the result
are :math:`\nabla_\theta \ell(f_\theta(x_i), y_i)` flattened, computed with
``torch.func.vmap`` over ``torch.func.grad`` of the loss of one example (a batch of one),
never one example at a time. A loss with ``reduction="mean"`` gives the gradient of the
mean over an example's elements, as Captum's rescaling by the batch size does; ``"sum"``
and ``"none"`` (summed per example) give the example's summed loss. A model or loss that
``vmap`` cannot trace falls back to one backward pass per example.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import torch
from torch import Tensor, nn
from torch.func import functional_call, grad, vmap

from ..errors import AttributionValueError


def parameter_names(model: nn.Module, layers: list[str] | None) -> list[str]:
    """Names of the parameters whose gradients count: those of the named modules (all
    trainable parameters by default)."""
    names = [n for n, p in model.named_parameters() if p.requires_grad]
    if layers is None:
        return names
    modules = dict(model.named_modules())
    chosen = []
    for layer in layers:
        key = (
            layer
            if layer in modules
            else (layer[7:] if layer.startswith("module.") else "module." + layer)
        )
        if key not in modules:
            raise AttributionValueError(
                f"`layers`: the model has no module {layer!r}; modules include "
                f"{[n for n in modules if n][:10]}"
            )
        prefix = key + "." if key else ""
        chosen += [n for n in names if n.startswith(prefix) and n not in chosen]
    if not chosen:
        raise AttributionValueError(f"`layers` {layers} hold no trainable parameters")
    return chosen


def example_loss(model: nn.Module, loss_fn: Callable | None, others: dict[str, Tensor]):
    """The loss of one example as a function of the chosen parameters."""

    def loss(params: dict[str, Tensor], inputs: tuple, label: Any) -> Tensor:
        batch = tuple(x.unsqueeze(0) for x in inputs)
        out = functional_call(model, {**others, **params}, batch)
        value = out if loss_fn is None else loss_fn(out, label.unsqueeze(0))
        return value.sum()

    return loss


class PerExampleGradients:
    """Per-example gradients of ``loss_fn`` with respect to ``params`` of ``model``."""

    def __init__(self, model: nn.Module, loss_fn: Callable | None, names: list[str]) -> None:
        self.model = model
        self.loss_fn = loss_fn
        self.names = names
        self._vmap_ok = True

    def __call__(self, params: dict[str, Tensor], inputs: tuple, labels: Tensor) -> Tensor:
        """``(batch, parameters)``: each example's flattened gradient."""
        chosen = {n: params[n] for n in self.names}
        others = {n: t for n, t in params.items() if n not in chosen}
        loss = example_loss(self.model, self.loss_fn, others)
        if self._vmap_ok:
            try:
                grads = vmap(grad(loss), in_dims=(None, 0, 0), randomness="different")(
                    chosen, inputs, labels
                )
                return torch.cat([grads[n].reshape(len(labels), -1) for n in self.names], 1)
            except Exception:  # noqa: BLE001 - not traceable by vmap: one example at a time
                self._vmap_ok = False
        rows = []
        for i in range(len(labels)):
            leaves = {n: t.detach().requires_grad_(True) for n, t in chosen.items()}
            with torch.enable_grad():
                value = loss(leaves, tuple(x[i] for x in inputs), labels[i])
                g = torch.autograd.grad(value, list(leaves.values()), allow_unused=True)
            rows.append(
                torch.cat(
                    [
                        (torch.zeros_like(t) if d is None else d).reshape(-1)
                        for t, d in zip(leaves.values(), g)
                    ]
                )
            )
        return torch.stack(rows)
