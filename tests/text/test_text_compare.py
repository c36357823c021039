"""text.compare, compare_generation and score_explanations: the registry's text metrics,
the references in every table, the errors named."""

from __future__ import annotations

import pytest
import torch

from perspicio import text
from perspicio.core.metrics import REFERENCES, compare_methods
from perspicio.core.registry import METRICS

torch.set_num_threads(1)


@pytest.fixture(scope="module")
def bert():
    from perspicio.text.demo import tiny_bert

    return tiny_bert()


def test_the_text_metrics_are_in_the_registry_for_their_modality():
    for spec in text.TEXT_METRICS:
        assert METRICS[spec.name] is spec
        assert "tokenizer" in spec.needs and spec.family == "faithfulness"
    assert METRICS["comprehensiveness"].modalities == {"tokens"}
    assert METRICS["generation_deletion_auc"].modalities == {"generation"}
    assert not METRICS["eraser_sufficiency"].higher_is_better
    with pytest.raises(ValueError, match="perspicio.text.compare"):
        compare_methods(
            torch.nn.Linear(3, 2),
            torch.rand(2, 3),
            ["saliency"],
            metrics=["comprehensiveness"],
            target=0,
        )


def test_compare_scores_methods_beside_the_references(bert):
    model, tokenizer = bert
    from perspicio.text.demo import sentiment_sentences

    sentences, _, _ = sentiment_sentences(4, seed=123)
    table = text.compare(model, tokenizer, sentences, methods=["layer_integrated_gradients"])
    assert list(table.index) == ["layer_integrated_gradients", *REFERENCES]
    assert set(table.columns) == {
        "comprehensiveness",
        "eraser_sufficiency",
        "token_deletion_auc",
        "token_insertion_auc",
    }
    # the method finds the sentiment words: more comprehensive than a random ranking
    assert (
        table.loc["layer_integrated_gradients", "comprehensiveness"]
        > table.loc[REFERENCES[0], "comprehensiveness"]
    )
    assert table.attrs["higher_is_better"]["token_insertion_auc"] is True
    # the same numbers from explanations made already
    exps = text.explain(model, tokenizer, sentences, seed=0)
    again = text.score_explanations(model, tokenizer, {"layer_integrated_gradients": exps})
    assert again.loc["layer_integrated_gradients"].equals(table.loc["layer_integrated_gradients"])


def test_compare_names_bad_input(bert):
    model, tokenizer = bert
    with pytest.raises(ValueError, match="`methods`: unknown \\['gradcam'\\]"):
        text.compare(model, tokenizer, "a film", methods=["gradcam"])
    with pytest.raises(ValueError, match="`metrics`: unknown for tokens \\['road'\\]"):
        text.compare(model, tokenizer, "a film", metrics=["road"])
    with pytest.raises(TypeError, match="`methods` must be a non-empty sequence"):
        text.compare(model, tokenizer, "a film", methods="feature_ablation")
    with pytest.raises(TypeError, match="`explained` must be a non-empty dict"):
        text.score_explanations(model, tokenizer, [])


def test_compare_generation_ranks_the_method_above_a_random_ranking():
    from perspicio.text.demo_lm import capital_cities_lm, capital_prompts

    lm, tokenizer = capital_cities_lm()
    prompts = capital_prompts(3, seed=321, distractors=(4, 6))
    table = text.compare_generation(
        lm,
        tokenizer,
        [p.text for p in prompts],
        [p.answer for p in prompts],
        methods=["layer_lrp"],
    )
    assert list(table.index) == ["layer_lrp", *REFERENCES]
    row, rand = table.loc["layer_lrp"], table.loc[REFERENCES[0]]
    assert row["generation_comprehensiveness"] > rand["generation_comprehensiveness"]
    assert row["generation_deletion_auc"] < rand["generation_deletion_auc"]
    assert row["generation_insertion_auc"] > rand["generation_insertion_auc"]
    with pytest.raises(ValueError, match="one target per prompt"):
        text.compare_generation(lm, tokenizer, ["a", "b"], ["x"], methods=["layer_lrp"])
