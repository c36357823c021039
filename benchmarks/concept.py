"""TCAV end to end (activations, CAVs, scores) against Captum's: 2 concepts and 5 random
concepts of 50 images each, experimental sets (concept, random) for every pair (10 sets),
layers ``layer3`` and ``layer4`` of a resnet18 at 224, scores for 50 images. Each call
starts from an empty folder (nothing reused between calls)."""

from __future__ import annotations

import tempfile

import torch
from torch.utils.data import DataLoader

from .common import Case
from .gradient import resnet18

LAYERS = ["layer3", "layer4"]
#: concepts and random concepts (Captum's time grows with their product, the sets)
CONCEPTS, RANDOM, IMAGES = 2, 5, 50
SETTINGS = (
    "each library's defaults: the same concepts, experimental sets, layers, concept loaders "
    "(batches of 64) and inputs; classifiers: perspicio's batched logistic regression, "
    "Captum's DefaultClassifier (scikit-learn SGDClassifier, one fit per set and layer). No "
    "best column: Captum's one speed setting, interpret(processes=N), trains the classifiers "
    "in N worker processes, beyond the thread count both libraries are given"
)


def _run(lib, model, images, inputs):
    def call():
        with tempfile.TemporaryDirectory() as folder:
            concepts = [
                lib.Concept(i, f"c{i}", DataLoader(x, batch_size=64)) for i, x in enumerate(images)
            ]
            sets = [[c, r] for c in concepts[:CONCEPTS] for r in concepts[CONCEPTS:]]
            tcav = lib.TCAV(model, LAYERS, save_path=folder)
            return tcav.interpret(inputs, sets, target=3)

    return call


def cases(device: torch.device) -> list[Case]:
    from captum import concept as C

    from perspicio.core import concept as P

    model = resnet18(device)
    generator = torch.Generator().manual_seed(0)
    images = [
        torch.rand(IMAGES, 3, 224, 224, generator=generator).to(device)
        for _ in range(CONCEPTS + RANDOM)
    ]
    inputs = torch.rand(50, 3, 224, 224, generator=generator).to(device)
    return [
        Case(
            f"TCAV {CONCEPTS} concepts + {RANDOM} random x {IMAGES} images "
            f"({CONCEPTS * RANDOM} sets), resnet18 layer3+layer4",
            _run(P, model, images, inputs),
            _run(C, model, images, inputs),
            settings=SETTINGS,
        )
    ]
