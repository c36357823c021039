"""Faithfulness must recover what is known on the demo detector and segmenter: the
explanation of a detection (feature ablation of the detection's score) and of a segmented
class (Integrated Gradients of the class's region score) remove more of that score, patch
by patch, than the 95th percentile of 100 random maps (region perturbation's AOPC), scene
by scene. (Their localisation is checked in test_detection and test_segmentation.)"""

from __future__ import annotations

import torch

from perspicio import vision
from perspicio.core import metrics as M
from perspicio.vision.demo import shapes_dataset
from perspicio.vision.detection_target import DetectionScore
from perspicio.vision.segmentation_target import RegionScores

torch.set_num_threads(1)


def _beats_random(model, x, attributions, target) -> None:
    def aopc(a):
        return M.region_perturbation(
            model, x, a, target, patch_size=4, regions=16, baseline=0.0
        ).aopc

    gen = torch.Generator().manual_seed(0)
    rand = torch.stack([aopc(torch.randn(x.shape, generator=gen)) for _ in range(100)])
    good = aopc(attributions)
    assert (good > rand.quantile(0.95, dim=0)).all(), (good, rand.quantile(0.95, dim=0))


def test_a_detections_explanation_beats_random_maps_at_removing_its_score():
    from perspicio.vision.demo import shapes_detector

    net = shapes_detector()
    x, _, _ = shapes_dataset(4, seed=98)  # held out
    for i in range(len(x)):
        exp = vision.explain(net, x[i], method="feature_ablation", n_segments=30)
        score = DetectionScore(net, x[i : i + 1])  # the top detection, as one output
        _beats_random(score, x[i : i + 1], exp.attributions.sum(1, keepdim=True), 0)


def test_a_segmented_class_explanation_beats_random_maps_at_removing_its_score():
    from perspicio.vision.demo import shapes_segmenter

    net = shapes_segmenter()
    x, labels, _ = shapes_dataset(4, seed=99)  # held out
    for i in range(len(x)):
        k = int(labels[i]) + 1  # class 0 is the background
        exp = vision.explain(net, x[i], method="integrated_gradients", target=k, n_steps=16)
        scores = RegionScores(net, x[i : i + 1])  # each class over its predicted pixels
        _beats_random(scores, x[i : i + 1], exp.attributions.sum(1, keepdim=True), k)
