"""Cached demo artefacts are keyed by what produced them, and training is deterministic."""

import ast
import importlib
from pathlib import Path

import pytest
import torch

from perspicio import _cache
from perspicio._cache import ARTIFACTS, artifact_key, cached_artifact

ROOT = Path(__file__).resolve().parents[1]
DEMO_MODULES = {
    "perspicio.vision.demo": ROOT / "vision" / "demo",  # a package: one module a demo
    "perspicio.text.demo": ROOT / "text" / "demo.py",
    "perspicio.tabular.demo": ROOT / "tabular" / "demo.py",
}


@pytest.fixture
def cache(tmp_path, monkeypatch):
    monkeypatch.setenv("PERSPICIO_CACHE", str(tmp_path))
    return tmp_path


def test_the_key_follows_the_code_the_settings_and_the_dependencies():
    def train(epochs):
        return epochs

    def helper():
        return 1

    def other_helper():
        return 2

    same = artifact_key(train, {"epochs": 3}, (helper,))
    assert same == artifact_key(train, {"epochs": 3}, (helper,))
    assert same != artifact_key(train, {"epochs": 4}, (helper,))
    assert same != artifact_key(train, {"epochs": 3}, (other_helper,))
    assert same != artifact_key(helper, {"epochs": 3}, (helper,))


def test_an_edited_producer_never_loads_the_old_file(cache, monkeypatch):
    calls = []
    # the producers below are told apart by their docstrings, standing for their source text
    real_source = _cache._source
    monkeypatch.setattr(_cache, "_source", lambda fn: fn.__doc__ or real_source(fn))

    def make(doc: str, value: float):
        def produce(scale):
            calls.append(value)
            return {"w": torch.full((2,), value * scale)}

        produce.__doc__ = doc
        return cached_artifact("edited_model", scale=1.0)(produce)

    first = make("version one", 1.0)
    assert first()["w"].tolist() == [1.0, 1.0] and calls == [1.0]
    assert first()["w"].tolist() == [1.0, 1.0] and calls == [1.0]  # loaded, not retrained
    edited = make("version two", 2.0)  # same name and settings, other code
    assert edited.path() != first.path()
    assert edited()["w"].tolist() == [2.0, 2.0] and calls == [1.0, 2.0]
    assert first.path().exists() and edited.path().exists()
    assert first(retrain=True)["w"].tolist() == [1.0, 1.0] and calls == [1.0, 2.0, 1.0]


def test_production_is_single_threaded_deterministic_and_restores_the_settings(cache):
    threads = torch.get_num_threads()
    seen = {}

    @cached_artifact("settings_probe", n=3)
    def produce(n):
        seen["threads"] = torch.get_num_threads()
        seen["deterministic"] = torch.are_deterministic_algorithms_enabled()
        return torch.arange(n)

    assert produce().tolist() == [0, 1, 2]
    assert seen == {"threads": 1, "deterministic": True}
    assert torch.get_num_threads() == threads
    assert not torch.are_deterministic_algorithms_enabled()
    assert list(cache.glob("settings_probe-*.pt")) == [produce.path()]
    assert not list(cache.glob("*.tmp*")), "the temporary file was left behind"


def test_every_demo_artefact_goes_through_the_keyed_cache():
    """No demo module saves or loads a cached file by hand: each trained artefact is a
    ``cached_artifact`` producer, whose file name carries the key of its code and settings."""
    for module, where in DEMO_MODULES.items():
        for path in sorted(where.glob("*.py")) if where.is_dir() else [where]:
            tree = ast.parse(path.read_text())
            for node in ast.walk(tree):
                if isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute):
                    call = f"{getattr(node.func.value, 'id', '?')}.{node.func.attr}"
                    assert call != "torch.save", f"{path.name}:{node.lineno} saves by hand"
                    if call == "torch.load":
                        # loading a packaged file is fine; a cached one must use cached_artifact
                        source = ast.get_source_segment(path.read_text(), node)
                        assert "cache_dir" not in source, f"{path.name}:{node.lineno}"
        importlib.import_module(module)
    expected = {
        "shapes_cnn_v3",
        "tiny_bert_sentiment_v5",
        "minilm_sentiment_head_v2",
        "breast_cancer_mlp_v2",
        "diabetes_mlp_v2",
        "breast_cancer_noisy_mlp_v1",
    }
    assert expected <= set(ARTIFACTS)
    for name in expected:
        producer = ARTIFACTS[name]
        assert producer.path().name == f"{name}-{producer.key}.pt"
        assert producer.key == artifact_key(
            producer.__wrapped__, producer.settings, producer.depends
        )
