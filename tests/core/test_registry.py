"""The registry turns a front end's facts into a method's arguments, in one place."""

from __future__ import annotations

import pytest
import torch

from perspicio.core import FeatureAblation, IntegratedGradients, KernelShap, Occlusion
from perspicio.core._engine.facts import Facts
from perspicio.core.registry import METHODS, get_spec, names, prepare

from ..conftest import make_cnn, make_mlp


def test_a_one_baseline_method_against_a_population_is_the_mean_over_its_rows():
    net = make_mlp()
    x, refs = torch.randn(3, 6), torch.randn(4, 6)
    run = prepare("integrated_gradients", net, Facts(x, target=1, population=refs))
    expected = torch.stack(
        [IntegratedGradients(net).attribute(x, baselines=r.expand_as(x), target=1) for r in refs]
    ).mean(0)
    assert torch.allclose(run.attribute(), expected, atol=1e-5)


def test_a_distribution_method_gets_the_population_or_the_baseline_as_one_row():
    net = make_mlp()
    x, refs = torch.randn(2, 6), torch.randn(5, 6)
    assert prepare("gradient_shap", net, Facts(x, population=refs)).kwargs["baselines"] is refs
    one = prepare("deeplift_shap", net, Facts(x, baseline=torch.ones(6))).kwargs["baselines"]
    assert torch.equal(one, torch.ones(1, 6))
    zeros = prepare("layer_gradient_shap", net, Facts(x, layer=net[0])).kwargs["baselines"]
    assert torch.equal(zeros, torch.zeros(1, 6))


def test_occlusion_of_feature_groups_is_their_ablation():
    net = make_mlp()
    x = torch.randn(2, 6)
    groups = torch.tensor([[0, 0, 1, 1, 2, 2]])
    run = prepare("occlusion", net, Facts(x, target=0, feature_mask=groups))
    assert isinstance(run.method, FeatureAblation) and run.grouped
    expected = FeatureAblation(net).attribute(x, target=0, feature_mask=groups)
    assert torch.allclose(run.attribute(), expected)
    windowed = prepare("occlusion", net, Facts(x, target=0, window=2, feature_mask=groups))
    assert isinstance(windowed.method, Occlusion)
    assert windowed.kwargs["sliding_window_shapes"] == (2,)


def test_settings_apply_where_accepted_and_lazy_facts_are_computed_only_when_used():
    calls = []

    def expensive_mask(max_groups):
        calls.append(max_groups)
        return torch.zeros(1, 6, dtype=torch.long)

    facts = Facts(
        torch.randn(2, 6),
        feature_mask=expensive_mask,
        generator=0,
        options={"n_steps": 7, "n_samples": 9},
    )
    ig = prepare("integrated_gradients", make_mlp(), facts)
    assert ig.kwargs["n_steps"] == 7 and "n_samples" not in ig.kwargs and not calls
    ks = prepare("kernel_shap", make_mlp(), facts)
    assert ks.kwargs["n_samples"] == 9 and ks.kwargs["generator"] == 0 and calls == [None]
    prepare("shapley_values", make_mlp(), facts)
    assert calls[-1] == get_spec("shapley_values").max_features


def test_an_instance_keeps_its_own_defaults():
    net = make_mlp()
    run = prepare(KernelShap(net), None, Facts(torch.randn(1, 6), target=0, generator=3))
    assert "n_samples" not in run.kwargs and run.kwargs["generator"] == 3


def test_missing_facts_are_clear_errors():
    net = make_cnn()
    x = torch.randn(1, 3, 8, 8)
    with pytest.raises(ValueError, match="`layer`: method 'gradcam'"):
        prepare("gradcam", net, Facts(x))
    with pytest.raises(ValueError, match="`window`: method 'occlusion'"):
        prepare("occlusion", net, Facts(x))
    with pytest.raises(ValueError, match="`neuron`: method 'neuron_gradient'"):
        prepare("neuron_gradient", net, Facts(x, layer=net[0]))
    with pytest.raises(ValueError, match="integer ids"):
        prepare("saliency", net, Facts(x.long()))
    with pytest.raises(ValueError, match="`method` 'nope' is not a known method"):
        prepare("nope", net, Facts(x))
    with pytest.raises(TypeError, match="`method` must be"):
        prepare(3, net, Facts(x))


def test_property_queries():
    assert "gradcam" in names(layer_map=True)
    assert set(names(family="neuron")) == {n for n in METHODS if n.startswith("neuron_")}
    assert all(get_spec(n).sampling for n in ("lime", "kernel_shap", "gradient_shap"))
    assert not get_spec("saliency").sampling


# ------------------------------------------------------------------ the registry's contract
def test_every_public_attribution_class_is_registered_or_excluded_on_purpose():
    import perspicio.core as core
    from perspicio.core.attribution import Attribution
    from perspicio.core.registry import EXCLUDED

    registered = {spec.cls for spec in METHODS.values()}
    public = {
        name: obj
        for name in core.__all__
        if isinstance(obj := getattr(core, name), type) and issubclass(obj, Attribution)
    }
    missing = sorted(n for n, c in public.items() if c not in registered and n not in EXCLUDED)
    assert not missing, (
        f"register these in core/registry/methods.py or add them to EXCLUDED: {missing}"
    )
    stale = sorted(n for n in EXCLUDED if n not in public)
    assert not stale, f"EXCLUDED names that perspicio.core no longer exports: {stale}"
    assert not (set(EXCLUDED) & {c.__name__ for c in registered})


def test_every_registered_method_is_exported_by_its_package():
    """A registered class is public: ``perspicio.core`` exports core's, a front end's package
    (``perspicio.tabular``) the methods it registers."""
    import importlib

    import perspicio.tabular  # noqa: F401  (registers the tree methods)

    unexported = []
    for name, spec in METHODS.items():
        package = importlib.import_module(".".join(spec.cls.__module__.split(".")[:2]))
        if getattr(package, spec.cls.__name__, None) is not spec.cls or (
            spec.cls.__name__ not in getattr(package, "__all__", ())
        ):
            unexported.append(f"{name}: {spec.cls.__name__} not in {package.__name__}.__all__")
    assert not unexported, unexported


def test_register_is_reversible_and_refuses_taken_names():
    from perspicio.core import Saliency
    from perspicio.core.registry import MethodSpec, register

    class Mine(Saliency):
        pass

    spec = MethodSpec("mine", Mine, "gradient", input_gradients=True)
    with register(spec) as registered:
        assert registered is spec and get_spec("mine") is spec and "mine" in names()
        with pytest.raises(ValueError, match="a method named 'mine' is registered already"):
            register(spec)
        other = MethodSpec("mine", Saliency, "gradient")
        with register(other, replace=True):
            assert get_spec("mine") is other
        assert get_spec("mine") is spec  # the earlier meaning restored
    assert "mine" not in METHODS
    with pytest.raises(ValueError, match="alias"):
        register(MethodSpec("ig", Mine, "gradient"))
    with pytest.raises(TypeError, match="`spec` must be a MethodSpec or a MetricSpec"):
        register("saliency")
    with pytest.raises(TypeError, match="`cls` of method 'x' must be an Attribution subclass"):
        MethodSpec("x", int, "gradient")
    with pytest.raises(ValueError, match="`family` of method 'x' must be one of"):
        MethodSpec("x", Mine, "magic")


def test_each_context_has_one_default_and_the_signatures_agree():
    import inspect

    import perspicio.tabular  # noqa: F401
    from perspicio import text, vision
    from perspicio.core.registry import default_method, defaults
    from perspicio.insights import AttributionVisualizer

    contexts = {c for spec in METHODS.values() for c in spec.default_for}
    for context in contexts:
        if not context.endswith("_compare"):  # a comparison's defaults are a set
            default_method(context)  # exactly one, or a ValueError naming them
    assert len(defaults("image_compare")) == 4
    # a gradient method beside a perturbation one
    assert set(defaults("text_compare")) == {"layer_integrated_gradients", "feature_ablation"}
    assert set(defaults("generation_compare")) == set(defaults("text_compare"))

    def default(function):
        return inspect.signature(function).parameters["method"].default

    assert default(vision.explain) == default_method("image")
    assert default(text.explain) == default_method("text")
    assert default(text.explain_generation) == default_method("generation")
    assert default(AttributionVisualizer.explain) == default_method("explorer")
    with pytest.raises(ValueError, match="`context` 'nowhere' has 0 default methods"):
        default_method("nowhere")


def test_the_metric_registry_is_what_compare_methods_reads():
    from perspicio.core.metrics import HIGHER_IS_BETTER, compare_methods, score_attributions
    from perspicio.core.registry import METRICS, MetricSpec, Scoring, register

    assert dict(HIGHER_IS_BETTER) == {n: s.higher_is_better for n, s in METRICS.items()}
    net, x = make_mlp(), torch.randn(3, 6)

    def peak(s: Scoring):
        return s.attributions.abs().amax(1)

    with register(MetricSpec("peak", torch.amax, peak, True, "complexity")):
        table = compare_methods(net, x, ["saliency"], target=0, generator=0)
        assert "peak" in table.columns and HIGHER_IS_BETTER["peak"] is True
    assert "peak" not in HIGHER_IS_BETTER
    # the localisation metrics join when a ground-truth mask is given, with their chance level
    mask = torch.zeros(3, 6, dtype=torch.bool)
    mask[:, :2] = True
    table = score_attributions(net, x, {"x": x}, target=0, mask=mask, generator=0)
    assert "pointing_game" in table.columns
    assert table.attrs["chance_level"]["pointing_game"] == pytest.approx(2 / 6)
    with pytest.raises(ValueError, match="`mask`: metric 'pointing_game'"):
        score_attributions(net, x, {"x": x}, metrics=["pointing_game"])
    with pytest.raises(ValueError, match="'sensitivity' re-explains"):
        score_attributions(net, x, {"x": x}, metrics=["sensitivity"])
    with pytest.raises(ValueError, match=r"unknown metric\(s\) \['nope'\]"):
        compare_methods(net, x, ["saliency"], metrics=["nope"])
