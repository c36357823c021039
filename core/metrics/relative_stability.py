r"""Relative input, output and representation stability (Agarwal et al., 2022, "Rethinking
stability for attribution-based explanations").

For noisy copies :math:`\tilde x` of an input that keep its predicted class, the relative
change of the explanation over the relative change of what the model sees:

.. math::

    RIS = \max_{\tilde x} \frac{\|(\Phi(x) - \Phi(\tilde x)) / \Phi(x)\|}
                                {\max(\|(x - \tilde x) / x\|, \epsilon)},\quad
    ROS = \max_{\tilde x} \frac{\|(\Phi(x) - \Phi(\tilde x)) / \Phi(x)\|}
                                {\max(\|h(x) - h(\tilde x)\|, \epsilon)},\quad
    RRS = \max_{\tilde x} \frac{\|(\Phi(x) - \Phi(\tilde x)) / \Phi(x)\|}
                                {\max(\|(L_x - L_{\tilde x}) / L_x\|, \epsilon)}

with :math:`h` the model's output and :math:`L` a layer's representation; a zero in a
divisor is replaced by :math:`\epsilon` (``eps_min``). Lower is better.

Copies whose predicted class changes are left out of the maximum, as the paper defines it
(Quantus sets them to NaN and takes ``np.max``, so one changed prediction makes its score
NaN); an example none of whose copies keeps the class scores NaN.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import torch
from torch import Tensor, nn

from ..errors import AttributionTypeError, AttributionValueError
from ._common import perturbed_explanations
from .local_lipschitz import _noise


def _relative(a: Tensor, b: Tensor, eps: float) -> Tensor:
    """``||(a - b) / a||`` per row (``a``, ``b``: ``(n, m, D)``), a zero in ``a`` taken as
    ``eps``."""
    return ((a - b) / (a + (a == 0) * eps)).norm(dim=2)


def _stability(
    kind: str,
    explain: Callable[..., Tensor],
    model: Callable[..., Tensor],
    inputs: Tensor,
    attributions: Tensor,
    n_samples: int,
    low: float,
    high: float,
    noise: Tensor | None,
    generator: Any,
    eps_min: float,
    layer: nn.Module | None,
    samples_per_call: int,
    explain_kwargs: dict[str, Any],
) -> Tensor:
    if not callable(model):
        raise AttributionTypeError(f"`model` must be callable, got {type(model).__name__}")
    noise = _noise(
        noise,
        inputs,
        n_samples,
        lambda s, g: low + (high - low) * torch.rand(s, generator=g),
        generator,
    )
    n = inputs.shape[0]

    def seen(x: Tensor) -> tuple[Tensor, Tensor]:
        """The model's output (logits) and, for RRS, the layer's representation."""
        found: list[Tensor] = []
        handle = None
        if layer is not None:
            handle = layer.register_forward_hook(lambda m, a, out: found.append(out.detach()))
        try:
            out = model(x)
        finally:
            if handle is not None:
                handle.remove()
        rep = found[-1].reshape(x.shape[0], -1) if found else out
        return out.detach(), rep

    with torch.no_grad():
        h, rep = seen(inputs)
    label = h.argmax(-1)
    a = attributions.detach().reshape(n, 1, -1).double()
    worst = torch.full((n,), -torch.inf, dtype=torch.float64)
    for sl, noisy, expl in perturbed_explanations(
        explain, inputs, noise, explain_kwargs, samples_per_call
    ):
        m = sl.stop - sl.start
        with torch.no_grad():
            h2, rep2 = seen(noisy.reshape((m * n,) + inputs.shape[1:]))
        numerator = _relative(a, expl.transpose(0, 1).reshape(n, m, -1).double(), eps_min)
        if kind == "input":
            x = inputs.reshape(n, 1, -1).double()
            denominator = _relative(x, noisy.transpose(0, 1).reshape(n, m, -1).double(), eps_min)
        elif kind == "output":
            denominator = (h.reshape(n, 1, -1) - h2.reshape(m, n, -1).transpose(0, 1)).norm(dim=2)
            denominator = denominator.double()
        else:
            r = rep.reshape(n, 1, -1).double()
            denominator = _relative(r, rep2.reshape(m, n, -1).transpose(0, 1).double(), eps_min)
        ratio = numerator / (denominator + (denominator == 0) * eps_min)
        kept = h2.reshape(m, n, -1).argmax(-1).t() == label.unsqueeze(1)
        ratio = torch.where(kept, ratio, torch.full_like(ratio, -torch.inf))
        worst = torch.maximum(worst, ratio.amax(1).cpu())
    return torch.where(worst == -torch.inf, torch.full_like(worst, float("nan")), worst)


def relative_input_stability(
    explain: Callable[..., Tensor],
    model: Callable[..., Tensor],
    inputs: Tensor,
    attributions: Tensor,
    *,
    n_samples: int = 200,
    low: float = 0.02,
    high: float = 0.2,
    noise: Tensor | None = None,
    generator: torch.Generator | int | None = None,
    eps_min: float = 1e-6,
    samples_per_call: int = 8,
    **explain_kwargs: Any,
) -> Tensor:
    """Relative input stability, per example (Agarwal et al., 2022). Lower is better.

    ``explain(inputs, **explain_kwargs)`` is e.g. a method's ``attribute``; ``model`` gives
    the predicted class (copies that change it are left out). Noise is uniform in
    ``[low, high)`` per element (Quantus' default), or ``noise`` ``(N, n_samples, ...)``.

    Examples
    --------
    >>> import torch
    >>> from perspicio.core import Saliency
    >>> net = torch.nn.Linear(4, 2)
    >>> x = torch.randn(3, 4)
    >>> a = Saliency(net).attribute(x, target=1, abs=False)
    >>> relative_input_stability(Saliency(net).attribute, net, x, a, n_samples=4, target=1,
    ...                          abs=False, generator=0).tolist()  # a constant gradient
    [0.0, 0.0, 0.0]
    """
    return _stability(
        "input",
        explain,
        model,
        inputs,
        attributions,
        n_samples,
        low,
        high,
        noise,
        generator,
        eps_min,
        None,
        samples_per_call,
        explain_kwargs,
    )


def relative_output_stability(
    explain: Callable[..., Tensor],
    model: Callable[..., Tensor],
    inputs: Tensor,
    attributions: Tensor,
    *,
    n_samples: int = 200,
    low: float = 0.02,
    high: float = 0.2,
    noise: Tensor | None = None,
    generator: torch.Generator | int | None = None,
    eps_min: float = 1e-6,
    samples_per_call: int = 8,
    **explain_kwargs: Any,
) -> Tensor:
    """Relative output stability, per example: the explanation's relative change over the
    change of the model's output (its logits). Lower is better.

    Examples
    --------
    >>> import torch
    >>> from perspicio.core import InputXGradient
    >>> net = torch.nn.Linear(4, 2)
    >>> x = torch.randn(3, 4)
    >>> a = InputXGradient(net).attribute(x, target=1)
    >>> ros = relative_output_stability(InputXGradient(net).attribute, net, x, a, n_samples=4,
    ...                                 target=1, generator=0)
    >>> bool(((ros > 0) | ros.isnan()).all())
    True
    """
    return _stability(
        "output",
        explain,
        model,
        inputs,
        attributions,
        n_samples,
        low,
        high,
        noise,
        generator,
        eps_min,
        None,
        samples_per_call,
        explain_kwargs,
    )


def relative_representation_stability(
    explain: Callable[..., Tensor],
    model: nn.Module,
    inputs: Tensor,
    attributions: Tensor,
    *,
    layer: nn.Module,
    n_samples: int = 200,
    low: float = 0.02,
    high: float = 0.2,
    noise: Tensor | None = None,
    generator: torch.Generator | int | None = None,
    eps_min: float = 1e-6,
    samples_per_call: int = 8,
    **explain_kwargs: Any,
) -> Tensor:
    """Relative representation stability, per example: the explanation's relative change
    over the relative change of ``layer``'s output. Lower is better.

    Examples
    --------
    >>> import torch
    >>> from perspicio.core import InputXGradient
    >>> net = torch.nn.Sequential(torch.nn.Linear(4, 8), torch.nn.ReLU(), torch.nn.Linear(8, 2))
    >>> x = torch.randn(3, 4)
    >>> a = InputXGradient(net).attribute(x, target=1)
    >>> rrs = relative_representation_stability(InputXGradient(net).attribute, net, x, a,
    ...                                         layer=net[1], n_samples=4, target=1, generator=0)
    >>> rrs.shape
    torch.Size([3])
    """
    if not isinstance(layer, nn.Module):
        raise AttributionValueError(f"`layer` must be a module of the model, got {layer!r}")
    return _stability(
        "representation",
        explain,
        model,
        inputs,
        attributions,
        n_samples,
        low,
        high,
        noise,
        generator,
        eps_min,
        layer,
        samples_per_call,
        explain_kwargs,
    )
