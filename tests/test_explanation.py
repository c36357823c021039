"""Image, text, table and generation explanations share one base: the same names, a
Figure from plot(), escaped HTML, the same manifest from save(), a one-line summary."""

from __future__ import annotations

import json

import pytest
import torch
from matplotlib.figure import Figure

pytest.importorskip("torchvision")
pytest.importorskip("transformers")

from perspicio import tabular, text, vision  # noqa: E402
from perspicio.core import LLMAttributionResult  # noqa: E402
from perspicio.core._engine.fingerprint import model_fingerprint  # noqa: E402
from perspicio.core.explanation import Explanation  # noqa: E402
from perspicio.text.demo import tiny_bert  # noqa: E402

from .conftest import make_cnn, make_mlp  # noqa: E402

EVIL = "<script>alert(1)</script>"
SHARED_KEYS = {
    "modality",
    "method",
    "parameters",
    "targets",
    "target_labels",
    "target_scores",
    "attribution_shape",
    "model_fingerprint",
    "perspicio_version",
    "torch_version",
}


def _explanations():
    cnn = make_cnn()
    image = vision.explain(
        cnn, torch.rand(3, 8, 8), method="saliency", labels=[EVIL, "b", "c", "d"], target=0
    )
    bert, tokenizer = tiny_bert()
    sentence = text.explain(bert, tokenizer, f"a fine film {EVIL}", method="feature_ablation")
    mlp = make_mlp()
    table = tabular.Explainer(
        mlp,
        torch.randn(30, 6),
        method="feature_ablation",
        feature_names=[EVIL, "b", "c", "d", "e", "f"],
    ).explain(torch.randn(2, 6), target=1)
    generation = LLMAttributionResult(
        input_tokens=[EVIL, "Paris"],
        output_tokens=["Rome"],
        seq_attr=[0.1, 2.0],
        token_attr=[[0.1, 2.0]],
        output_probs=[0.5],
        method="FeatureAblation",
        model=mlp,
    )
    return {
        "image": (image, cnn),
        "text": (sentence, bert),
        "table": (table, mlp),
        "generation": (generation, mlp),
    }


@pytest.fixture(scope="module")
def explanations():
    return _explanations()


@pytest.mark.parametrize("modality", ["image", "text", "table", "generation"])
def test_every_modality_shares_the_base(explanations, modality, tmp_path):
    exp, model = explanations[modality]
    assert isinstance(exp, Explanation) and exp.modality == modality
    n = len(exp.targets)
    assert n >= 1 and len(exp.target_labels) == n and len(exp.target_scores) == n
    assert isinstance(exp.attributions, torch.Tensor) and exp.method
    assert exp.model_fingerprint == model_fingerprint(model)
    assert isinstance(exp.plot(), Figure)
    page = exp.to_html()
    assert "<script>" not in page and "&lt;" in page
    summary = exp.summary
    assert "\n" not in summary and exp.method in summary
    main = exp.save(tmp_path / "out")
    manifest = json.loads(main.with_suffix(".json").read_text())
    assert SHARED_KEYS <= set(manifest)
    assert manifest["modality"] == modality and manifest["method"] == exp.method
    assert manifest["model_fingerprint"] == model_fingerprint(model)
    assert manifest["target_labels"] == [str(t) for t in exp.target_labels]
    assert torch.equal(
        torch.load(main.with_suffix(".pt"), weights_only=True), exp.attributions.detach().cpu()
    )


def test_save_never_replaces_a_users_file_beside_the_page(explanations, tmp_path):
    """A table's ``save("patients.html")`` also writes patients.csv: a user's data file of
    that name stops it (nothing written) unless ``overwrite=True``."""
    exp, _ = explanations["table"]
    data = tmp_path / "patients.csv"
    data.write_text("age,weight\n40,70\n", encoding="utf-8")
    with pytest.raises(FileExistsError, match=r"patients\.csv.*overwrite=True"):
        exp.save(tmp_path / "patients.html")
    assert data.read_text(encoding="utf-8") == "age,weight\n40,70\n"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["patients.csv"]  # nothing written
    # named under another suffix, the data file is still not the page's to replace
    with pytest.raises(FileExistsError, match="patients.csv"):
        exp.save(data)
    main = exp.save(tmp_path / "patients.html", overwrite=True)
    assert main == tmp_path / "patients.html" and data.read_text().startswith("row,feature")
    manifest = json.loads(main.with_suffix(".json").read_text())
    assert manifest["files"] == ["patients.html", "patients.csv", "patients.pt", "patients.json"]


@pytest.mark.parametrize("modality", ["image", "text", "table", "generation"])
def test_save_again_replaces_only_what_it_wrote(explanations, modality, tmp_path):
    """Saving again to the same path replaces the files the first save listed in its
    manifest; any other file it would write that exists (a user's ``out.json``) stops it."""
    exp, _ = explanations[modality]
    first = exp.save(tmp_path / "out")
    listed = json.loads(first.with_suffix(".json").read_text())["files"]
    assert [p.name for p in exp.saved_files(tmp_path / "out")] == listed
    assert sorted(p.name for p in tmp_path.iterdir()) == sorted(listed)
    first.write_bytes(b"stale")
    assert exp.save(tmp_path / "out") == first and first.read_bytes() != b"stale"
    # the file named by `path` itself is the caller's to replace
    named = tmp_path / "named" / first.name
    named.parent.mkdir()
    named.write_bytes(b"old")
    assert exp.save(named) == named and named.read_bytes() != b"old"
    # a foreign out.json (not a manifest of perspicio's) is never replaced silently
    other = tmp_path / "other"
    other.mkdir()
    (other / "out.json").write_text('{"mine": true}', encoding="utf-8")
    with pytest.raises(FileExistsError, match="out.json"):
        exp.save(other / "out")
    assert json.loads((other / "out.json").read_text()) == {"mine": True}
    exp.save(other / "out", overwrite=True)
    assert json.loads((other / "out.json").read_text())["method"] == exp.method


def test_summary_names_the_largest_features(explanations):
    table, _ = explanations["table"]
    row = table.attributions[0]
    largest = table.features[int(row.abs().argmax())]
    assert f"{largest} (" in table.summary
    generation, _ = explanations["generation"]
    assert generation.summary.startswith("FeatureAblation: Rome (score 0.5); largest: Paris")
