"""perspicio.models: model files are read without running code from them by default. State
dicts and safetensors need an architecture, TorchScript (code) needs the caller's opt-in and
is recognised without being loaded, and a skops file is loaded only when every type it holds
is on the documented list."""

from __future__ import annotations

import io
import json
import zipfile

import numpy as np
import pytest
import torch
from torch import nn

from perspicio import models
from perspicio.models import (
    SKOPS_TRUSTED_TYPES,
    check_upload_size,
    is_safetensors,
    is_torchscript,
    load_model_file,
    load_tree_model_file,
)


def _net() -> nn.Module:
    torch.manual_seed(0)
    return nn.Sequential(nn.Linear(3, 4), nn.ReLU(), nn.Linear(4, 2))


def _bytes(save, obj) -> bytes:
    buffer = io.BytesIO()
    save(obj, buffer)
    return buffer.getvalue()


@pytest.fixture
def scripted() -> bytes:
    return _bytes(torch.jit.save, torch.jit.script(_net()))


def _same(a: nn.Module, b: nn.Module) -> bool:
    return all(torch.equal(x, y) for x, y in zip(a.state_dict().values(), b.state_dict().values()))


def test_a_state_dict_is_read_into_the_architecture():
    net = _net()
    for saved in (net.state_dict(), {"state_dict": net.state_dict()}):
        loaded = load_model_file(
            _bytes(torch.save, saved),
            lambda: nn.Sequential(nn.Linear(3, 4), nn.ReLU(), nn.Linear(4, 2)),
        )
        assert _same(loaded, net) and loaded.training is False
    with pytest.raises(ValueError, match="a state dict needs the architecture"):
        load_model_file(_bytes(torch.save, net.state_dict()), name="weights.pt")


def test_torchscript_is_refused_without_the_opt_in_and_never_loaded(
    scripted, monkeypatch, tmp_path
):
    """Recognised from the archive's entries: torch.jit.load is never called, even where an
    architecture is given, and the message says why and how to opt in."""

    def never(*args, **kwargs):
        raise AssertionError("torch.jit.load ran on an untrusted file")

    monkeypatch.setattr(torch.jit, "load", never)
    path = tmp_path / "model.pt"
    path.write_bytes(scripted)
    for source, architecture in ((scripted, None), (path, None), (path, _net)):
        with pytest.raises(ValueError) as err:
            load_model_file(source, architecture, name="--model")
        message = str(err.value)
        assert message.startswith("--model: ") and "TorchScript is code" in message
        assert "trust_torchscript=True" in message and "--trust-torchscript" in message
        assert "\n" not in message


def test_torchscript_loads_with_the_opt_in(scripted):
    loaded = load_model_file(scripted, trust_torchscript=True)
    assert loaded.training is False
    x = torch.randn(2, 3)
    assert torch.allclose(loaded(x), _net()(x))
    traced = _bytes(torch.jit.save, torch.jit.trace(_net(), torch.randn(1, 3)))
    assert is_torchscript(traced) and is_torchscript(scripted)
    assert load_model_file(traced, _net, trust_torchscript=True).training is False


def test_what_is_not_torchscript_is_told_apart_without_loading():
    state = _bytes(torch.save, _net().state_dict())
    assert not is_torchscript(state) and not is_torchscript(b"not a model")
    # a zip archive of another kind, even with a file named like TorchScript's at the top
    other = io.BytesIO()
    with zipfile.ZipFile(other, "w") as archive:
        archive.writestr("constants.pkl", b"")
    assert not is_torchscript(other.getvalue())
    assert not is_safetensors(state) and not is_safetensors(b"")


def test_a_pickled_module_is_never_unpickled(tmp_path):
    path = tmp_path / "pickled.pt"
    torch.save(_net(), path)  # the whole module: code, not a state dict
    with pytest.raises(Exception, match="Weights only load failed|weights_only"):
        load_model_file(path, _net)
    with pytest.raises(ValueError, match="is not a TorchScript model"):
        load_model_file(path, name="--model")


def test_a_safetensors_file_is_read_into_the_architecture(monkeypatch):
    pytest.importorskip("safetensors")
    from safetensors.torch import save

    net = _net()
    data = save(net.state_dict())
    assert is_safetensors(data) and not is_torchscript(data)
    assert _same(load_model_file(data, _net), net)
    with pytest.raises(ValueError, match="a safetensors file needs the architecture"):
        load_model_file(data)
    with pytest.raises(ValueError, match="not a readable safetensors file"):
        load_model_file(data[:-4], _net)

    def missing(name, *args):
        return None if name == "safetensors" else find_spec(name, *args)

    find_spec = models.importlib.util.find_spec
    monkeypatch.setattr(models.importlib.util, "find_spec", missing)
    with pytest.raises(ImportError, match="pip install safetensors"):
        load_model_file(data, _net, name="weights.safetensors")


def test_the_size_cap_names_the_file_and_the_limit(scripted):
    check_upload_size(2**20, 1)
    with pytest.raises(ValueError, match=r"data\.csv: the file is larger than 0\.5 MB \(1 MB\)"):
        check_upload_size(2**20, 0.5, "data.csv")
    with pytest.raises(ValueError, match="larger than"):
        load_model_file(scripted, max_mb=1e-6, trust_torchscript=True)


# --------------------------------------------------------------------------- skops
TREE_MODELS = [
    ("tree", "DecisionTreeClassifier", {"max_depth": 3}),
    ("tree", "DecisionTreeRegressor", {"max_depth": 3}),
    ("ensemble", "RandomForestClassifier", {"n_estimators": 3}),
    ("ensemble", "RandomForestRegressor", {"n_estimators": 3}),
    ("ensemble", "ExtraTreesClassifier", {"n_estimators": 3}),
    ("ensemble", "ExtraTreesRegressor", {"n_estimators": 3}),
    ("ensemble", "GradientBoostingClassifier", {"n_estimators": 3}),
    ("ensemble", "GradientBoostingRegressor", {"n_estimators": 3, "loss": "huber"}),
    ("ensemble", "HistGradientBoostingClassifier", {"max_iter": 3}),
    ("ensemble", "HistGradientBoostingRegressor", {"max_iter": 3, "loss": "poisson"}),
]


def _table(classes: int = 2):
    import pandas as pd

    rng = np.random.default_rng(0)
    X = pd.DataFrame(rng.normal(size=(80, 4)), columns=["a", "b", "c", "d"])
    y = (X["a"] > 0).astype(int) + (classes > 2) * (X["b"] > 0).astype(int)
    return X, y, np.abs(X["b"].to_numpy()) + 0.1


@pytest.fixture
def skops_io():
    return pytest.importorskip("skops.io")


def _dump(model, tmp_path, name="model.skops"):
    from skops import io as skops_io

    path = tmp_path / name
    skops_io.dump(model, path)
    return path


@pytest.mark.parametrize(("module", "cls", "kwargs"), TREE_MODELS, ids=[m[1] for m in TREE_MODELS])
def test_every_supported_scikit_learn_tree_model_loads_from_skops(
    module, cls, kwargs, tmp_path, skops_io
):
    sklearn = pytest.importorskip(f"sklearn.{module}")
    X, y, target = _table(classes=3 if cls.startswith("Hist") else 2)
    model = getattr(sklearn, cls)(random_state=0, **kwargs)
    model.fit(X, target if cls.endswith("Regressor") else y)
    path = _dump(model, tmp_path)
    assert set(models.skops_types(path)) <= set(SKOPS_TRUSTED_TYPES)
    loaded = load_tree_model_file(path)
    assert type(loaded) is type(model)
    np.testing.assert_array_equal(loaded.predict(X), model.predict(X))


def _refused(path, *names):
    with pytest.raises(ValueError) as err:
        load_tree_model_file(path, name="--model")
    message = str(err.value)
    assert message.startswith("--model: ") and "does not load" in message
    for name in names:
        assert name in message, message


class ForestOfMine:
    """A class of the user's own, inside an otherwise trusted model."""


def test_any_other_type_in_a_skops_file_is_refused_by_name(tmp_path, skops_io):
    """Another scikit-learn model, a pipeline whose function skops itself trusts
    (``numpy.log1p``), and a class of the user's are refused, each naming the type."""
    from sklearn.naive_bayes import GaussianNB
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import FunctionTransformer
    from sklearn.tree import DecisionTreeClassifier

    X, y, _ = _table()
    bayes = _dump(GaussianNB().fit(X, y), tmp_path, "bayes.skops")
    assert skops_io.get_untrusted_types(file=str(bayes)) == []  # skops alone would load it
    _refused(bayes, "sklearn.naive_bayes.GaussianNB")
    pipeline = make_pipeline(FunctionTransformer(np.log1p), DecisionTreeClassifier())
    piped = _dump(pipeline.fit(X.abs(), y), tmp_path, "pipeline.skops")
    _refused(piped, "numpy.log1p")
    tree = DecisionTreeClassifier(max_depth=2).fit(X, y)
    tree.mine_ = ForestOfMine()
    _refused(_dump(tree, tmp_path, "mine.skops"), f"{__name__}.ForestOfMine")


def test_a_pipeline_with_its_encoders_loads_from_skops(tmp_path, skops_io):
    """A pipeline of imputers, scalers, a one-hot encoder, a passthrough column and a
    classifier (the trusted list's preprocessing) loads and predicts as it was saved."""
    from sklearn.linear_model import LogisticRegression

    from perspicio.tabular.demo import clinical_pipeline

    for estimator in (None, LogisticRegression(max_iter=500)):
        pipe, _, rows = clinical_pipeline(estimator)
        path = _dump(pipe, tmp_path, "pipeline.skops")
        loaded = load_tree_model_file(path)
        np.testing.assert_array_equal(loaded.predict_proba(rows), pipe.predict_proba(rows))


def test_a_forged_skops_schema_is_refused_before_skops_reads_it(tmp_path, monkeypatch, skops_io):
    """The schema is read as data: a node naming a function to call is refused by name and
    skops never loads the file."""
    from sklearn.tree import DecisionTreeRegressor

    X, _, target = _table()
    path = _dump(DecisionTreeRegressor(max_depth=2).fit(X, target), tmp_path)
    with zipfile.ZipFile(path) as archive:
        entries = {n: archive.read(n) for n in archive.namelist()}
    schema = json.loads(entries["schema.json"])
    schema["content"]["content"]["criterion"] = {
        "__class__": "system",
        "__module__": "os",
        "__loader__": "FunctionNode",
        "__id__": 1,
    }
    entries["schema.json"] = json.dumps(schema).encode()
    forged = tmp_path / "forged.skops"
    with zipfile.ZipFile(forged, "w") as archive:
        for name, data in entries.items():
            archive.writestr(name, data)
    monkeypatch.setattr(skops_io, "load", lambda *a, **k: pytest.fail("skops loaded the file"))
    _refused(forged, "os.system")
    (tmp_path / "junk.skops").write_bytes(b"not a zip")
    with pytest.raises(ValueError, match="junk.skops is not a skops file"):
        load_tree_model_file(tmp_path / "junk.skops", name="--model")


def test_the_docstring_examples_run(skops_io):
    import doctest

    result = doctest.testmod(models, optionflags=doctest.ELLIPSIS | doctest.NORMALIZE_WHITESPACE)
    assert result.attempted > 10 and result.failed == 0
