"""perspicio.core.concept: CAVs and TCAV scores against closed forms, the activation cache,
Captum's scores with the same classifier, the significance test and bad input."""

from __future__ import annotations

import pytest
import torch
from torch import nn

from perspicio.core.concept import (
    CAV,
    TCAV,
    Classifier,
    Concept,
    DefaultClassifier,
    concepts_to_str,
    significance,
)
from perspicio.core.concept.significance import rank_p_value

torch.set_num_threads(1)


class Linear(nn.Module):
    """f(x) = w . x through an identity layer named ``rep`` (whose gradient is w)."""

    def __init__(self, w: torch.Tensor) -> None:
        super().__init__()
        self.rep = nn.Identity()
        self.head = nn.Linear(len(w), 2, bias=False)
        with torch.no_grad():
            self.head.weight.copy_(torch.stack([-w, w]))
        self.calls = 0

    def forward(self, x):
        self.calls += 1
        return self.head(self.rep(x))


def cluster(centre, n=40, seed=0):
    g = torch.Generator().manual_seed(seed)
    return centre + 0.3 * torch.randn(n, len(centre), generator=g)


def test_cav_follows_the_concepts_and_scores_have_closed_forms():
    w = torch.tensor([1.0, -2.0, 0.5])
    model = Linear(w)
    up = Concept(0, "up", [cluster(torch.tensor([2.0, 0, 0]))])
    down = Concept(1, "down", [cluster(torch.tensor([-2.0, 0, 0]), seed=1)])
    tcav = TCAV(model, ["rep"], save_path=None)
    scores = tcav.interpret(torch.randn(7, 3), [[up, down]], target=1)["0-1"]["rep"]
    cav = tcav.cavs["0-1"]["rep"].stats["weights"]
    direction = cav[0] / cav[0].norm()
    assert direction[0] > 0.99  # the CAV of "up" points from "down" to "up"
    assert torch.allclose(cav[1], -cav[0])
    # the sensitivity is w for every input: every sign agrees, the magnitude is w . v
    assert scores["sign_count"].tolist() == [1.0, 0.0]
    assert torch.allclose(scores["magnitude"], torch.stack([w @ cav[0], w @ cav[1]]), atol=1e-5)


def test_three_concepts_and_concept_order():
    model = Linear(torch.tensor([0.0, 1.0, 0.0]))
    a, b, c = (
        Concept(i, n, [cluster(m, seed=i)])
        for i, (n, m) in enumerate(
            [
                ("x", torch.tensor([3.0, 0, 0])),
                ("y", torch.tensor([0, 3.0, 0])),
                ("z", torch.tensor([0, 0, 3.0])),
            ]
        )
    )
    tcav = TCAV(model, "rep", save_path=None)
    scores = tcav.interpret(torch.randn(5, 3), [[a, b, c], [c, b]], target=1)
    assert scores["0-1-2"]["rep"]["sign_count"].tolist() == [0.0, 1.0, 0.0]
    assert scores["2-1"]["rep"]["sign_count"].tolist() == [0.0, 1.0]


def test_default_classifier_separates_and_is_reproducible():
    x = torch.cat(
        [cluster(torch.tensor([1.0, 1, 0, 0]), 50), cluster(torch.tensor([-1.0, -1, 0, 0]), 50, 1)]
    )
    y = torch.cat([torch.full((50,), 4), torch.full((50,), 9)])
    first = DefaultClassifier()
    stats = first.train_and_eval([(x[:50], y[:50]), (x[50:], y[50:])])
    assert stats["accs"].item() == 1.0 and first.classes() == [4, 9]
    w = first.weights()[1]
    assert torch.nn.functional.cosine_similarity(w, torch.tensor([-1.0, -1, 0, 0]), 0) > 0.95
    second = DefaultClassifier()
    second.train_and_eval([(x, y)])
    assert torch.equal(first.weights(), second.weights())
    with pytest.raises(ValueError, match="at least two concepts"):
        DefaultClassifier().train_and_eval([(x[:50], y[:50])])


def test_activations_are_computed_once_per_concept_for_all_layers():
    model = nn.Sequential(nn.Linear(4, 6), nn.ReLU(), nn.Linear(6, 2))
    calls = []
    model.register_forward_pre_hook(lambda m, a: calls.append(a[0].shape[0]))
    concepts = [
        Concept(i, f"c{i}", [torch.randn(10, 4) + i, torch.randn(6, 4) + i]) for i in range(5)
    ]
    sets = [[concepts[0], r] for r in concepts[2:]] + [[concepts[1], r] for r in concepts[2:]]
    tcav = TCAV(model, ["0", "1"], save_path=None)
    tcav.interpret(torch.randn(3, 4), sets, target=0)
    # one pass per batch of each concept (two batches of five concepts), then the inputs
    probes = [n for n in calls if n == 1]  # the one-row pass that sizes the chunks
    assert len(probes) <= 1
    assert sorted(n for n in calls if n > 1) == sorted([10, 6] * 5 + [3])
    calls.clear()
    tcav.interpret(torch.randn(3, 4), sets, target=1)
    assert calls == [3]  # CAVs and activations are reused


def test_saved_activations_and_cavs_are_reused_from_disk(tmp_path):
    model = Linear(torch.tensor([1.0, 2.0, 0.0]))

    def make():
        return [
            Concept(0, "a", [cluster(torch.tensor([1.0, 0, 0]))]),
            Concept(1, "b", [cluster(torch.tensor([0, 1.0, 0]), seed=2)]),
        ]

    inputs = torch.randn(4, 3)
    first = TCAV(model, ["rep"], model_id="lin", save_path=str(tmp_path)).interpret(
        inputs, [make()], target=1
    )
    model.calls = 0
    again = TCAV(model, ["rep"], model_id="lin", save_path=str(tmp_path))
    second = again.interpret(inputs, [make()], target=1)
    assert model.calls == 1  # only the inputs' pass: activations and CAVs came from disk
    assert torch.equal(first["0-1"]["rep"]["magnitude"], second["0-1"]["rep"]["magnitude"])
    assert (tmp_path / "lin" / "0-1-rep.pt").is_file()
    loaded = CAV.load(str(tmp_path), "lin", make(), "rep")
    assert loaded.stats["classes"] == [0, 1]


def test_model_is_left_as_found():
    model = nn.Sequential(nn.Linear(4, 6), nn.Dropout(0.5), nn.Linear(6, 2)).train()
    model[0].weight.requires_grad_(False)
    concepts = [Concept(i, f"c{i}", [torch.randn(8, 4) + i]) for i in range(2)]
    TCAV(model, ["1"], save_path=None).interpret(torch.randn(3, 4), [concepts], target=0)
    assert model.training and not model[0].weight.requires_grad
    assert all(not m._forward_hooks and not m._forward_pre_hooks for m in model.modules())


class FixedWeights(Classifier):
    """The same CAVs for both libraries (their default classifiers differ)."""

    def __init__(self, features: int) -> None:
        self.w = torch.linspace(-1, 1, features)

    def train_and_eval(self, dataloader, **kwargs):
        self._classes = sorted({int(label[0]) for _, label in dataloader})
        return {"accs": torch.tensor(1.0)}

    def weights(self):
        return torch.stack([-self.w, self.w])

    def classes(self):
        return self._classes


def test_scores_equal_captums_with_the_same_classifier(tmp_path):
    captum_concept = pytest.importorskip("captum.concept")
    torch.manual_seed(0)
    model = nn.Sequential(nn.Conv2d(1, 3, 3), nn.ReLU(), nn.Flatten(), nn.Linear(3 * 6 * 6, 4))
    data = [torch.rand(12, 1, 8, 8) + 0.1 * i for i in range(3)]
    x = torch.rand(9, 1, 8, 8)
    ours, theirs = {}, {}
    for lib, out, folder in (
        (None, ours, tmp_path / "p"),
        (captum_concept, theirs, tmp_path / "c"),
    ):
        make = Concept if lib is None else lib.Concept
        interpreter = TCAV if lib is None else lib.TCAV
        concepts = [make(i, f"c{i}", [d]) for i, d in enumerate(data)]
        tcav = interpreter(model, ["1"], classifier=FixedWeights(108), save_path=str(folder))
        out.update(tcav.interpret(x, [concepts[:2], [concepts[2], concepts[0]]], target=2))
    for key in ("0-1", "2-0"):
        for score in ("sign_count", "magnitude"):
            torch.testing.assert_close(ours[key]["1"][score], theirs[key]["1"][score])


def test_bad_input_is_named():
    model = nn.Sequential(nn.Linear(4, 2))
    with pytest.raises(ValueError, match="no submodule 'nope'"):
        TCAV(model, ["nope"], save_path=None)
    with pytest.raises(TypeError, match="torch.nn.Module"):
        TCAV(lambda x: x, ["0"], save_path=None)
    tcav = TCAV(model, ["0"], save_path=None)
    a, b = Concept(0, "a", [torch.randn(4, 4)]), Concept(0, "b", [torch.randn(4, 4)])
    with pytest.raises(ValueError, match="two different concepts have id 0"):
        tcav.compute_cavs([[a, b]])
    with pytest.raises(TypeError, match="at least two Concepts"):
        TCAV(model, ["0"], save_path=None).compute_cavs([[a]])
    with pytest.raises(ValueError, match="constructor"):
        TCAV(model, ["0"], save_path=None).interpret(
            torch.randn(2, 4),
            [[a, Concept(1, "c", [torch.randn(4, 4)])]],
            attribute_to_layer_input=True,
        )
    with pytest.raises(TypeError, match="`id` must be an int"):
        Concept("0", "a", None)


def test_rank_p_value():
    null = torch.arange(19.0)
    assert rank_p_value(100.0, null, "greater") == pytest.approx(1 / 20)
    assert rank_p_value(-1.0, null, "greater") == 1.0
    assert rank_p_value(-1.0, null, "less") == pytest.approx(1 / 20)
    assert rank_p_value(9.0, null, "two-sided") == 1.0  # the null's centre


def driven_model(seed: int) -> nn.Module:
    """Class 1 grows with feature 0, through every hidden unit."""
    torch.manual_seed(seed)
    model = nn.Sequential(nn.Linear(5, 16), nn.Tanh(), nn.Linear(16, 2))
    with torch.no_grad():
        model[0].weight[:, 0] = torch.linspace(0.5, 1.5, 16)
        model[2].weight.copy_(torch.stack([-torch.ones(16), torch.ones(16)]) / 4)
    return model


def test_significance_tells_a_driving_concept_from_noise():
    """Over 10 draws of model, inputs and concepts (19 random concepts each): a concept
    along which the target grows has the largest mean magnitude and is significant every
    time (p = 1/20, the smallest possible); a concept drawn like the
    random ones is rejected about as often as the level says (at most 2 of 10 at 5%;
    P(>= 3) = 0.012 under the null)."""
    hits, false_alarms = 0, 0
    for seed in range(20):
        model = driven_model(seed)
        inputs = torch.randn(30, 5)
        randoms = [Concept(10 + i, f"r{i}", [torch.randn(30, 5)]) for i in range(19)]
        high = torch.tensor([2.0, 0, 0, 0, 0])
        driving = Concept(0, "feature 0 high", [torch.randn(30, 5) + high])
        noise = Concept(1, "noise", [torch.randn(30, 5)])
        tcav = TCAV(model, ["0"], save_path=None)
        test = {"target": 1, "alternative": "greater", "score": "magnitude"}
        hit = significance(tcav, inputs, driving, randoms, **test)["0"]
        miss = significance(tcav, inputs, noise, randoms, **test)["0"]
        hits += hit.significant and hit.mean > hit.random_scores.max()
        false_alarms += miss.significant
    assert hits >= 18
    assert false_alarms <= 4


def test_significance_options_and_errors():
    model = driven_model(0)
    inputs = torch.randn(30, 5)
    randoms = [Concept(10 + i, f"r{i}", [torch.randn(30, 5)]) for i in range(7)]
    driving = Concept(0, "feature 0 high", [torch.randn(30, 5) + torch.tensor([2.0, 0, 0, 0, 0])])
    tcav = TCAV(model, ["0"], save_path=None)
    result = significance(tcav, inputs, driving, randoms, target=1)["0"]
    assert result.scores.shape == (7,) and result.random_scores.shape == (7,)
    assert result.p_value == pytest.approx(1 / 8)  # the largest of 8 statistics
    with pytest.raises(ValueError, match="at least three"):
        significance(tcav, inputs, driving, randoms[:2], target=1)
    with pytest.raises(ValueError, match="`alternative`"):
        significance(tcav, inputs, driving, randoms, target=1, alternative="more")
    with pytest.raises(ValueError, match="also one of"):
        significance(tcav, inputs, randoms[0], randoms, target=1)


def test_concepts_to_str_keys():
    assert concepts_to_str([Concept(3, "a", None), Concept(12, "b", None)]) == "3-12"


@pytest.mark.parametrize("classes", [2, 3])
def test_default_classifier_reaches_the_optimum_and_batches_change_nothing(classes):
    """The dual Newton solution makes the primal gradient vanish (one-vs-rest problems on
    raw features with a bias), and sets solved together equal sets solved alone."""
    torch.manual_seed(0)
    x = torch.randn(30 * classes, 200) * 3 + 1
    y = torch.arange(classes).repeat_interleave(30)
    x[:, 0] += 2 * y  # a little signal
    clf = DefaultClassifier(alpha=0.01)
    clf.fit(x, y, test_split_ratio=0.0)
    weights = clf.weights().double()
    rows = weights[1:] if classes == 2 else weights
    for k, w in enumerate(rows):
        target = (y == (k + 1 if classes == 2 else k)).double()
        w = w.clone().requires_grad_(True)
        b = torch.zeros((), dtype=torch.float64, requires_grad=True)

        def objective(b, w=w, target=target):
            z = x.double() @ w + b
            return (nn.functional.softplus(z) - target * z).mean() + 0.005 * (w * w).sum()

        # the optimal bias for this w, then the gradient in w there
        with torch.no_grad():
            for _ in range(50):
                z = x.double() @ w + b
                p = torch.sigmoid(z)
                b -= (p - target).sum() / (p * (1 - p)).sum()
        objective(b).backward()
        assert w.grad.norm() < 1e-6
    sets = [torch.arange(len(y)), torch.arange(len(y)).flip(0)]
    together = clf.fit_sets(x, sets, [y, y.flip(0)], 0.3)
    alone = [clf.fit_sets(x, [s], [label], 0.3)[0] for s, label in zip(sets, [y, y.flip(0)])]
    for (w1, c1, s1), (w2, c2, s2) in zip(together, alone):
        torch.testing.assert_close(w1, w2)
        assert c1 == c2 and torch.equal(s1["accs"], s2["accs"])
