"""AttackComparator against Captum's: 5 random perturbations drawn 10 times each (and the
original) under a tuple metric (accuracy, output at the target), on a small CNN with
batches of 1, 8 and 64 images of 32x32; one copy of the batch per model call in both (both
defaults), and perspicio's automatic batching against Captum's 51 copies per call (best)."""

from __future__ import annotations

import torch
from torch import nn

from perspicio.core import robust as P

from .common import Case, max_abs_diff


def small_cnn(device: torch.device) -> nn.Module:
    torch.manual_seed(0)
    return (
        nn.Sequential(
            nn.Conv2d(3, 16, 3, padding=1),
            nn.ReLU(),
            nn.Conv2d(16, 32, 3, padding=1),
            nn.ReLU(),
            nn.MaxPool2d(2),
            nn.Conv2d(32, 32, 3, padding=1),
            nn.ReLU(),
            nn.AdaptiveAvgPool2d(1),
            nn.Flatten(),
            nn.Linear(32, 4),
        )
        .eval()
        .to(device)
    )


def metric(out: torch.Tensor, target: int):
    return (out.argmax(1) == target).float(), out[:, target]


#: five random perturbations: each call draws new noise from its own generator
def _perturbations(device: torch.device):
    gen = torch.Generator(device=device)

    def gaussian(x, std):
        return x + std * torch.randn(x.shape, generator=gen, device=x.device)

    def uniform(x, width):
        return x + width * (torch.rand(x.shape, generator=gen, device=x.device) - 0.5)

    def brightness(x):
        return x * (0.7 + 0.6 * torch.rand((x.shape[0], 1, 1, 1), generator=gen, device=x.device))

    def erase(x):
        keep = torch.rand((x.shape[0], 1, 8, 8), generator=gen, device=x.device) > 0.2
        return x * nn.functional.interpolate(keep.float(), size=x.shape[-2:])

    def salt(x):
        return torch.where(torch.rand(x.shape, generator=gen, device=x.device) < 0.05, 1.0, x)

    return gen, [
        (gaussian, {"std": 0.1}),
        (uniform, {"width": 0.3}),
        (brightness, {}),
        (erase, {}),
        (salt, {}),
    ]


def _comparator(lib, model, device):
    gen, perturbations = _perturbations(device)
    comparator = lib.AttackComparator(model, metric)
    for fn, kwargs in perturbations:
        comparator.add_attack(fn, name=fn.__name__, num_attempts=10, attack_kwargs=kwargs)
    return gen, comparator


def cases(device: torch.device) -> list[Case]:
    from captum import robust as C

    model = small_cnn(device)
    out = []
    for n in (1, 8, 64):
        x = torch.rand(n, 3, 32, 32, device=device)

        def run(lib, per_eval, x=x):
            def call():
                gen, comparator = _comparator(lib, model, device)
                gen.manual_seed(0)
                return comparator.evaluate(x, perturbations_per_eval=per_eval, target=1)

            return call

        def check(a, b):
            def mean(r, k):
                return r[k] if k == "Original" else r[k]["mean"]

            return max(max_abs_diff(mean(a, k), mean(b, k)) for k in a)

        def floor(x=x):  # the 51 forward passes alone, default layout, one copy per call
            with torch.no_grad():
                for _ in range(51):
                    model(x)

        out.append(
            Case(
                f"AttackComparator 5x10 draws, CNN, {n} image{'s' if n > 1 else ''} 32x32",
                run(P, 1),
                run(C, 1),
                floor=floor,
                check=check,
                ours_best=run(P, None),
                theirs_best=run(C, 51),
                settings="perturbations_per_eval=1 in both (both defaults: one copy of the batch "
                "per model call)",
                best="perspicio perturbations_per_eval=None (automatic: as many copies per call "
                "as its memory budget holds), Captum 51 (every attempt and the original in "
                "one call)",
            )
        )
    return out
