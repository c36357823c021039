"""Metric cases: infidelity and sensitivity_max on resnet18 224x224 and on the MLP."""

from __future__ import annotations

import torch

from perspicio import core as P
from perspicio.core import metrics as M

from .common import Case, max_abs_diff
from .gradient import mlp, resnet18


def shift_perturbation(inputs):
    """Seed-free, so both libraries see the same perturbations."""
    shift = 0.01 * torch.ones_like(inputs)
    return shift, inputs - shift


def shift_noise(inputs, perturb_radius=0.02):
    return inputs + perturb_radius


SETTINGS = "max_examples_per_batch=None in both (both defaults: every perturbed copy in one batch)"


def cases(device: torch.device) -> list[Case]:
    import captum.metrics as CM

    out = []
    for label, model, x in (
        ("resnet18 224", resnet18(device), torch.rand(1, 3, 224, 224, device=device)),
        ("MLP 256 rows", mlp(device), torch.randn(256, 30, device=device)),
    ):
        attr = P.Saliency(model).attribute(x, target=1, abs=False)
        sal = P.Saliency(model)
        out.append(
            Case(
                f"infidelity {label} (n_perturb_samples 10)",
                lambda m=model, x=x, a=attr: M.infidelity(m, shift_perturbation, x, a, target=1),
                lambda m=model, x=x, a=attr: CM.infidelity(m, shift_perturbation, x, a, target=1),
                None,
                max_abs_diff,
                settings=SETTINGS,
            )
        )
        out.append(
            Case(
                f"sensitivity_max of Saliency {label} (n_perturb_samples 10)",
                lambda x=x, s=sal: M.sensitivity_max(s.attribute, x, shift_noise, target=1),
                lambda x=x, s=sal: CM.sensitivity_max(s.attribute, x, shift_noise, target=1),
                None,
                max_abs_diff,
                settings=SETTINGS + "; both explain with perspicio's Saliency",
            )
        )
    return out
