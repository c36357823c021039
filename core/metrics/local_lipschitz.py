r"""Local Lipschitz estimate (Alvarez-Melis and Jaakkola, 2018, "On the robustness of
interpretability methods") and average sensitivity (Yeh et al., NeurIPS 2019, "On the
(in)fidelity and sensitivity of explanations").

Both explain noisy copies :math:`\tilde x` of each input and compare the explanations:

* local Lipschitz estimate: :math:`\max_{\tilde x} \|\Phi(x) - \Phi(\tilde x)\|_2 /
  \|x - \tilde x\|_2`, Gaussian noise;
* average sensitivity: :math:`\mathbb{E}_{\tilde x} \|\Phi(x) - \Phi(\tilde x)\|_2 /
  \|\Phi(x)\|_2`, uniform noise in :math:`[-r, r]`.

Lower is better for both (a stable explanation); a constant map is perfectly stable, so a
robustness score means something only beside a faithfulness score.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import torch
from torch import Tensor

from .._engine.inputs import check_positive_int
from ..errors import AttributionValueError
from ._common import perturbed_explanations


def _noise(
    noise: Tensor | None,
    inputs: Tensor,
    n_samples: int,
    draw: Callable[[tuple, torch.Generator | None], Tensor],
    generator: torch.Generator | int | None,
) -> Tensor:
    check_positive_int(n_samples, "n_samples")
    shape = (inputs.shape[0], n_samples) + tuple(inputs.shape[1:])
    if noise is None:
        gen = torch.Generator().manual_seed(generator) if isinstance(generator, int) else generator
        return draw(shape, gen).to(inputs)
    if tuple(noise.shape) != shape:
        raise AttributionValueError(
            f"`noise` must be (N, n_samples, ...) = {shape}, got {tuple(noise.shape)}"
        )
    return noise.to(inputs)


def _flat(t: Tensor) -> Tensor:
    return t.reshape(t.shape[0], t.shape[1], -1).double()


@torch.no_grad()
def local_lipschitz_estimate(
    explain: Callable[..., Tensor],
    inputs: Tensor,
    attributions: Tensor,
    *,
    n_samples: int = 200,
    std: float = 0.1,
    noise: Tensor | None = None,
    generator: torch.Generator | int | None = None,
    samples_per_call: int = 8,
    **explain_kwargs: Any,
) -> Tensor:
    """The largest ratio of the explanation's change to the input's over ``n_samples``
    Gaussian perturbations (standard deviation ``std``), per example. Lower is better.

    ``explain(inputs, **explain_kwargs)`` is e.g. a method's ``attribute``; ``noise``
    ``(N, n_samples, ...)`` hands in the perturbations drawn beforehand.

    Examples
    --------
    >>> import torch
    >>> from perspicio.core import Saliency
    >>> net = torch.nn.Linear(4, 2)
    >>> x = torch.randn(3, 4)
    >>> a = Saliency(net).attribute(x, target=1)
    >>> local_lipschitz_estimate(Saliency(net).attribute, x, a, n_samples=5, target=1,
    ...                          generator=0).tolist()  # a linear model's gradient is constant
    [0.0, 0.0, 0.0]
    """
    noise = _noise(
        noise, inputs, n_samples, lambda s, g: std * torch.randn(s, generator=g), generator
    )
    base = attributions.detach().reshape(inputs.shape[0], -1).double()
    worst = torch.full((inputs.shape[0],), -torch.inf, dtype=torch.float64)
    for sl, _, expl in perturbed_explanations(
        explain, inputs, noise, explain_kwargs, samples_per_call
    ):
        change = (_flat(expl.transpose(0, 1)) - base.unsqueeze(1)).norm(dim=2)
        step = _flat(noise[:, sl]).norm(dim=2)
        worst = torch.maximum(worst, (change / (step + 1e-10)).amax(1).cpu())
    return worst


@torch.no_grad()
def average_sensitivity(
    explain: Callable[..., Tensor],
    inputs: Tensor,
    attributions: Tensor,
    *,
    n_samples: int = 200,
    radius: float = 0.2,
    noise: Tensor | None = None,
    generator: torch.Generator | int | None = None,
    samples_per_call: int = 8,
    **explain_kwargs: Any,
) -> Tensor:
    """The mean relative change of the explanation over ``n_samples`` perturbations
    uniform in ``[-radius, radius]`` per element, per example. Lower is better.

    Examples
    --------
    >>> import torch
    >>> from perspicio.core import InputXGradient
    >>> net = torch.nn.Linear(4, 2)
    >>> x = torch.randn(3, 4)
    >>> a = InputXGradient(net).attribute(x, target=1)
    >>> sens = average_sensitivity(InputXGradient(net).attribute, x, a, n_samples=5, target=1,
    ...                            generator=0)
    >>> bool((sens > 0).all())
    True
    """
    noise = _noise(
        noise,
        inputs,
        n_samples,
        lambda s, g: radius * (2 * torch.rand(s, generator=g) - 1),
        generator,
    )
    base = attributions.detach().reshape(inputs.shape[0], -1).double()
    scale = base.norm(dim=1)
    total = torch.zeros(inputs.shape[0], dtype=torch.float64)
    for _, _, expl in perturbed_explanations(
        explain, inputs, noise, explain_kwargs, samples_per_call
    ):
        change = (_flat(expl.transpose(0, 1)) - base.unsqueeze(1)).norm(dim=2)
        total += (change / scale.unsqueeze(1)).sum(1).cpu()
    return total / noise.shape[1]
