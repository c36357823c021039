"""Localisation scores: hand-worked maps, agreement with Quantus (a test oracle of the dev
extra), empty masks, and the argument errors."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from perspicio.core.metrics import (
    energy_pointing_game,
    pointing_game,
    relevance_mass,
    relevance_rank,
)


def test_hand_worked_scores_on_a_four_pixel_map():
    a = torch.tensor([[[[4.0, -1.0], [2.0, 1.0]]], [[[0.5, 3.0], [-2.0, 0.5]]]])  # (2,1,2,2)
    box = torch.tensor([[[[True, False], [True, False]]]])  # the left column, for both
    assert pointing_game(a, box).tolist() == [1.0, 0.0]
    # positive energy: (4 + 2) / 7 ; (0.5) / 4
    torch.testing.assert_close(energy_pointing_game(a, box), torch.tensor([6 / 7, 0.5 / 4]))
    # signed mass: 6 / 6 ; -1.5 / 2
    torch.testing.assert_close(relevance_mass(a, box), torch.tensor([1.0, -0.75]))
    # K = 2 largest: {4, 2} both inside ; {3, 0.5 (first)} -> 0.5 at (0,0) inside: 1 of 2
    torch.testing.assert_close(relevance_rank(a, box), torch.tensor([1.0, 0.5]))


def test_a_perfect_map_scores_one_and_its_opposite_zero():
    torch.manual_seed(0)
    mask = torch.zeros(3, 1, 8, 8, dtype=torch.bool)
    mask[:, :, 2:5, 3:7] = True
    inside = mask.float() * (1 + torch.rand(3, 1, 8, 8))
    for score in (pointing_game, energy_pointing_game, relevance_mass, relevance_rank):
        assert torch.allclose(score(inside, mask), torch.ones(3)), score.__name__
    outside = (~mask).float() * (1 + torch.rand(3, 1, 8, 8))
    for score in (pointing_game, energy_pointing_game, relevance_mass, relevance_rank):
        assert torch.allclose(score(outside, mask), torch.zeros(3)), score.__name__


def test_a_mask_shared_by_the_channels_broadcasts_and_an_empty_mask_is_nan():
    a = torch.rand(2, 3, 4, 4)
    mask = torch.zeros(2, 1, 4, 4, dtype=torch.bool)
    mask[0, :, :2] = True
    for score in (pointing_game, energy_pointing_game, relevance_mass, relevance_rank):
        out = score(a, mask)
        assert not torch.isnan(out[0]) and torch.isnan(out[1]), score.__name__


def test_bad_arguments_are_named():
    with pytest.raises(TypeError, match="`attributions` must be a tensor"):
        pointing_game(np.zeros((2, 4)), torch.ones(2, 4, dtype=torch.bool))
    with pytest.raises(TypeError, match="`mask` must be a tensor"):
        relevance_mass(torch.zeros(2, 4), [[True] * 4])
    with pytest.raises(
        ValueError, match=r"`mask` of shape \(3, 4\) does not broadcast .* \(2, 4\)"
    ):
        relevance_rank(torch.zeros(2, 4), torch.ones(3, 4, dtype=torch.bool))
    with pytest.raises(ValueError, match="batch dimension"):
        energy_pointing_game(torch.zeros(4), torch.ones(4, dtype=torch.bool))


quantus = pytest.importorskip("quantus")


@pytest.mark.parametrize(
    "ours, theirs, options",
    [
        (pointing_game, "PointingGame", {}),
        # the energy of the positive attribution (Quantus' default takes magnitudes)
        (energy_pointing_game, "AttributionLocalisation",
         {"positive_attributions": True, "abs": False}),
        (relevance_mass, "RelevanceMassAccuracy", {}),
        (relevance_rank, "RelevanceRankAccuracy", {}),
    ],
)  # fmt: skip
def test_agrees_with_quantus(ours, theirs, options):
    rng = np.random.default_rng(0)
    a = rng.normal(size=(6, 1, 12, 12)).astype(np.float32) + 0.3
    s = np.zeros((6, 1, 12, 12), dtype=np.float32)
    for i in range(6):
        top, left = rng.integers(0, 8, 2)
        s[i, :, top : top + 4, left : left + 3] = 1
    x = rng.random((6, 1, 12, 12)).astype(np.float32)
    metric = getattr(quantus, theirs)(disable_warnings=True, display_progressbar=False, **options)
    expected = metric(model=None, x_batch=x, y_batch=np.zeros(6, dtype=int), a_batch=a,
                      s_batch=s, device="cpu")  # fmt: skip
    got = ours(torch.from_numpy(a), torch.from_numpy(s).bool())
    np.testing.assert_allclose(got.numpy(), np.asarray(expected, dtype=np.float32), rtol=1e-5,
                               atol=1e-6)  # fmt: skip
