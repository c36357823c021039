"""Scores of the shapes VLM's image attributions against the truth, computed as its tests
do (and by ``benchmarks/ground_truth_seeds.py --models vlm`` for other training seeds and
instruction sets)."""

from __future__ import annotations

from dataclasses import dataclass

import torch

import perspicio.core as P

#: held-out scenes (the model trains on scenes drawn with seed 0)
SCENE_SEED, N_SCENES = 1000, 40
GRID = 4


@dataclass
class VLMScores:
    accuracy: float  # the greedy answer is the scene's shape
    shape_hit: float  # FeatureAblation over [shape, the rest]: the shape ranks first
    grid_hit: float  # FeatureAblation over a 4 x 4 grid: the top cell touches the shape
    grid_hit_shapley: float  # the same with ShapleyValueSampling (6 samples)
    blank_drop: float  # the smallest drop of log p(answer) when the whole image is painted

    def summary(self) -> dict[str, float]:
        return {k: round(v, 3) for k, v in self.__dict__.items()}


def grid_mask(size: int = 32, grid: int = GRID) -> torch.Tensor:
    cells = torch.arange(size) * grid // size
    return cells[:, None] * grid + cells[None, :]


def vlm_scores(model, proc, n: int = N_SCENES, seed: int = SCENE_SEED) -> VLMScores:
    """Attribute the answer of ``n`` held-out scenes (painting with black, the scenes'
    background) over the shape's mask and the rest, and over a 4 x 4 grid."""
    from perspicio.text import demo_vlm as D

    tok = proc.tokenizer
    fn = D.processor_fn(proc)
    grid = grid_mask()
    fa = P.LLMAttribution(P.FeatureAblation(model), tok)
    sv = P.LLMAttribution(P.ShapleyValueSampling(model), tok)
    accuracy = shape_hit = grid_hit = grid_hit_sv = 0
    drops = []
    for k, scene in enumerate(D.shape_scenes(n, seed=seed)):
        target = torch.tensor(tok.encode(scene.shape, add_special_tokens=False))
        with torch.no_grad():
            guess = model(**fn(scene.image)).logits[0, -1].argmax()
        accuracy += int(guess) == int(target[0])
        parts = P.ImageMaskInput(
            scene.image, mask_list=[scene.mask, ~scene.mask], baseline=(0, 0, 0), processor_fn=fn
        )
        shapes = fa.attribute(parts, target=target).seq_attr
        shape_hit += bool(shapes[0] > shapes[1])
        cells = P.ImageMaskInput(scene.image, mask=grid, baseline=(0, 0, 0), processor_fn=fn)
        touched = torch.stack([(scene.mask & (grid == c)).any() for c in range(GRID * GRID)])
        grid_hit += bool(touched[fa.attribute(cells, target=target).seq_attr.argmax()])
        sampled = sv.attribute(cells, target=target, n_samples=6, generator=k).seq_attr
        grid_hit_sv += bool(touched[sampled.argmax()])
        whole = P.ImageMaskInput(scene.image, baseline=(0, 0, 0), processor_fn=fn)
        drops.append(float(fa.attribute(whole, target=target).seq_attr[0]))
    return VLMScores(accuracy / n, shape_hit / n, grid_hit / n, grid_hit_sv / n, min(drops))
