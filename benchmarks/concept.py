"""TCAV end to end (activations, CAVs, scores) against Captum's: 2 concepts and 10 random
concepts of 50 images each, experimental sets (concept, random) for every pair (20 sets),
layers ``layer3`` and ``layer4`` of a resnet18 at 224, scores for 50 images. Each call
starts from an empty folder (nothing reused between calls)."""

from __future__ import annotations

import tempfile

import torch
from torch.utils.data import DataLoader

from .common import Case
from .gradient import resnet18

LAYERS = ["layer3", "layer4"]


def _run(lib, model, images, inputs):
    def call():
        with tempfile.TemporaryDirectory() as folder:
            concepts = [lib.Concept(i, f"c{i}", DataLoader(x, batch_size=64))
                        for i, x in enumerate(images)]  # fmt: skip
            sets = [[c, r] for c in concepts[:2] for r in concepts[2:]]
            tcav = lib.TCAV(model, LAYERS, save_path=folder)
            return tcav.interpret(inputs, sets, target=3)

    return call


def cases(device: torch.device) -> list[Case]:
    from captum import concept as C

    from perspicio.core import concept as P

    model = resnet18(device)
    generator = torch.Generator().manual_seed(0)
    images = [torch.rand(50, 3, 224, 224, generator=generator).to(device) for _ in range(12)]
    inputs = torch.rand(50, 3, 224, 224, generator=generator).to(device)
    return [Case("TCAV 2 concepts + 10 random x 50 images, resnet18 layer3+layer4",
                 _run(P, model, images, inputs), _run(C, model, images, inputs))]  # fmt: skip
