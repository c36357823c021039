"""Localisation scores: hand-worked maps, the chance level (a constant or flat map scores it
exactly, ties count as random tie-breaking would), a perfect map scores 1, agreement with
Quantus (a test oracle of the dev extra) on maps without ties, empty masks, and the
argument errors."""

from __future__ import annotations

import itertools

import numpy as np
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from perspicio.core.metrics import (
    LOCALISATION_METRICS,
    chance_level,
    energy_pointing_game,
    pointing_game,
    relevance_mass,
    relevance_rank,
)

SCORES = (pointing_game, energy_pointing_game, relevance_mass, relevance_rank)


def test_hand_worked_scores_on_a_four_pixel_map():
    a = torch.tensor([[[[4.0, -1.0], [2.0, 1.0]]], [[[0.5, 3.0], [-2.0, 0.5]]]])  # (2,1,2,2)
    box = torch.tensor([[[[True, False], [True, False]]]])  # the left column, for both
    assert pointing_game(a, box).tolist() == [1.0, 0.0]
    # positive energy: (4 + 2) / 7 ; (0.5) / 4
    torch.testing.assert_close(energy_pointing_game(a, box), torch.tensor([6 / 7, 0.5 / 4]))
    # signed mass: 6 / 6 ; -1.5 / 2
    torch.testing.assert_close(relevance_mass(a, box), torch.tensor([1.0, -0.75]))
    # K = 2 largest: {4, 2} both inside ; {3 (outside), then one of the two 0.5s, one
    # inside and one outside: half a hit} -> 0.5 of 2
    torch.testing.assert_close(relevance_rank(a, box), torch.tensor([1.0, 0.25]))


def test_a_perfect_map_scores_one_and_its_opposite_zero():
    torch.manual_seed(0)
    mask = torch.zeros(3, 1, 8, 8, dtype=torch.bool)
    mask[:, :, 2:5, 3:7] = True
    inside = mask.float() * (1 + torch.rand(3, 1, 8, 8))
    for score in SCORES:
        assert torch.allclose(score(inside, mask), torch.ones(3)), score.__name__
    outside = (~mask).float() * (1 + torch.rand(3, 1, 8, 8))
    for score in SCORES:
        assert torch.allclose(score(outside, mask), torch.zeros(3)), score.__name__


def test_a_mask_shared_by_the_channels_broadcasts_and_an_empty_mask_is_nan():
    a = torch.rand(2, 3, 4, 4)
    mask = torch.zeros(2, 1, 4, 4, dtype=torch.bool)
    mask[0, :, :2] = True
    for score in SCORES:
        out = score(a, mask)
        assert not torch.isnan(out[0]) and torch.isnan(out[1]), score.__name__
    level = chance_level("pointing_game", mask)
    assert level[0] == 0.5 and torch.isnan(level[1])


def test_the_chance_level_is_the_masks_share_by_name_or_function():
    mask = torch.zeros(8, 8, dtype=torch.bool)
    mask[:2] = True  # one mask for a batch of 3 maps, without a batch dimension
    a = torch.rand(3, 1, 8, 8)
    for score in SCORES:
        assert chance_level(score, mask, a).tolist() == [0.25] * 3
        assert chance_level(score.__name__, mask[None]).tolist() == [0.25]
    # top_k_intersection too (its k a parameter: tested with the Quantus families)
    names = [s.__name__ for s in SCORES] + ["top_k_intersection"]
    assert sorted(LOCALISATION_METRICS) == sorted(names)
    with pytest.raises(ValueError, match="`metric` must be one of .*'sparseness'"):
        chance_level("sparseness", mask[None])


def test_random_maps_score_the_chance_level_on_average():
    mask = torch.zeros(1, 1, 16, 16, dtype=torch.bool)
    mask[..., 4:12, :6] = True  # 48 of 256 pixels
    maps = torch.rand(4000, 1, 16, 16, generator=torch.Generator().manual_seed(0))
    for score in SCORES:
        mean = score(maps, mask).mean()
        assert abs(mean - 48 / 256) < 0.02, (score.__name__, mean)


masks = (
    st.integers(1, 4)
    .flatmap(
        lambda n: st.integers(1, 12).flatmap(
            lambda d: st.lists(
                st.lists(st.booleans(), min_size=d, max_size=d), min_size=n, max_size=n
            )
        )
    )
    .filter(lambda rows: all(any(r) for r in rows))
)
values = st.floats(-1e6, 1e6, allow_nan=False, width=32)


@settings(max_examples=60, deadline=None)
@given(masks, values, st.sampled_from([torch.float32, torch.float64]))
def test_a_constant_map_scores_the_chance_level_exactly(rows, value, dtype):
    mask = torch.tensor(rows)
    a = torch.full(mask.shape, value, dtype=dtype)
    level = chance_level("pointing_game", mask, a)
    assert level.dtype == dtype
    torch.testing.assert_close(level, mask.double().mean(1).to(dtype))
    for score in SCORES:
        got = score(a, mask)
        assert got.dtype == dtype
        assert torch.equal(got, level), (score.__name__, got, level)
        assert (got <= level).all()


@settings(max_examples=60, deadline=None)
@given(masks, st.floats(0.5, 1e3), st.integers(0, 2**31 - 1))
def test_a_perfect_map_scores_one(rows, scale, seed):
    """Positive inside the mask, zero outside (a mask of the whole map is flat: chance, 1)."""
    mask = torch.tensor(rows)
    noise = torch.rand(mask.shape, generator=torch.Generator().manual_seed(seed))
    a = mask * scale * (1 + noise)
    for score in SCORES:
        assert torch.equal(score(a, mask), torch.ones(len(rows))), score.__name__


@settings(max_examples=60, deadline=None)
@given(
    st.integers(1, 6)
    .flatmap(
        lambda d: st.tuples(
            st.lists(st.integers(0, 2), min_size=d, max_size=d),
            st.lists(st.booleans(), min_size=d, max_size=d),
        )
    )
    .filter(lambda t: any(t[1]))
)
def test_ties_count_as_random_tie_breaking(case):
    """Brute force: the mean, over every order of breaking ties, of the hit of the first
    position (pointing game) and of the share of the first K inside the mask (rank)."""
    levels, inside = case
    d, k = len(levels), sum(inside)
    peak, top = [], []
    for order in itertools.permutations(range(d)):
        ranked = sorted(range(d), key=lambda i: (-levels[i], order[i]))
        peak.append(inside[ranked[0]])
        top.append(sum(inside[i] for i in ranked[:k]) / k)
    a, mask = torch.tensor([levels], dtype=torch.float64), torch.tensor([inside])
    assert pointing_game(a, mask).item() == pytest.approx(np.mean(peak), abs=1e-12)
    assert relevance_rank(a, mask).item() == pytest.approx(np.mean(top), abs=1e-12)


def test_flat_and_zero_sum_maps_have_a_defined_score():
    mask = torch.tensor([[True, False, False, False]])
    # no positive energy: chance; a flat map: chance; a non-flat map that sums to 0: NaN
    assert energy_pointing_game(-torch.rand(1, 4), mask).tolist() == [0.25]
    assert relevance_mass(torch.zeros(1, 4), mask).tolist() == [0.25]
    assert torch.isnan(relevance_mass(torch.tensor([[1.0, -1.0, 0.0, 0.0]]), mask)).all()
    for score in SCORES:
        assert torch.isnan(score(torch.tensor([[float("nan"), 0, 0, 1.0]]), mask)).all()


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

QUANTUS = {
    pointing_game: ("PointingGame", {}),
    # the energy of the positive attribution (Quantus' default takes magnitudes)
    energy_pointing_game: (
        "AttributionLocalisation",
        {"positive_attributions": True, "abs": False},
    ),
    relevance_mass: ("RelevanceMassAccuracy", {}),
    relevance_rank: ("RelevanceRankAccuracy", {}),
}


def _quantus(score, a: np.ndarray, s: np.ndarray) -> np.ndarray:
    name, options = QUANTUS[score]
    metric = getattr(quantus, name)(disable_warnings=True, display_progressbar=False, **options)
    x = np.random.default_rng(0).random(a.shape).astype(np.float32)
    return np.asarray(
        metric(
            model=None,
            x_batch=x,
            y_batch=np.zeros(len(a), dtype=int),
            a_batch=a,
            s_batch=s,
            device="cpu",
        ),
        dtype=np.float32,
    )


@pytest.mark.parametrize("seed", [0, 1, 2])
@pytest.mark.parametrize("score", SCORES, ids=lambda s: s.__name__)
def test_agrees_with_quantus_on_maps_without_ties(score, seed):
    rng = np.random.default_rng(seed)
    a = rng.normal(size=(6, 1, 12, 12)).astype(np.float32) + 0.3  # continuous: no ties
    assert all(len(np.unique(m)) == m.size for m in a)
    s = np.zeros((6, 1, 12, 12), dtype=np.float32)
    for i in range(6):
        top, left = rng.integers(0, 8, 2)
        s[i, :, top : top + 4, left : left + 3] = 1
    got = score(torch.from_numpy(a), torch.from_numpy(s).bool())
    np.testing.assert_allclose(got.numpy(), _quantus(score, a, s), rtol=1e-5, atol=1e-6)


def test_differs_from_quantus_on_tied_peaks_on_purpose():
    """Two equal peaks, one inside the mask: Quantus counts a hit, here half of one (the
    expected hit when the tie is broken at random)."""
    a = np.zeros((1, 1, 8, 8), dtype=np.float32)
    a[..., 0, 0] = a[..., 7, 7] = 1.0
    s = np.zeros((1, 1, 8, 8), dtype=np.float32)
    s[..., :2, :2] = 1
    assert _quantus(pointing_game, a, s).tolist() == [1.0]
    assert pointing_game(torch.from_numpy(a), torch.from_numpy(s).bool()).tolist() == [0.5]
    # K = 4: one peak inside (of two), then 2 places for the 62 tied zeros, 3 of them inside
    got = relevance_rank(torch.from_numpy(a), torch.from_numpy(s).bool())
    assert got.item() == pytest.approx((1 + 2 * 3 / 62) / 4)
