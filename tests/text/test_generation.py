"""text.explain_generation: the one-call form over the core's LLM attribution."""

import pytest

from perspicio.core.llm.demo import toy_language_model
from perspicio.text import GENERATION_METHODS, explain_generation


@pytest.mark.parametrize("method", GENERATION_METHODS)
def test_every_method_finds_the_copied_word(method):
    model, tok = toy_language_model()
    res = explain_generation(
        model, tok, "say blue then red", target="blue", method=method, n_samples=60
    )
    assert res.output_tokens == ["blue"]
    assert res.input_tokens == ["say", "blue", "then", "red"]
    # "blue" decides the answer (with "say", for the methods that remove words); "then"
    # and "red" do not
    top = float(res.seq_attr.max())
    assert top > 0 and res.seq_attr[1] >= 0.9 * top
    # Lime's linear surrogate spreads some of the say x blue interaction
    assert res.seq_attr[2:].abs().max() <= (0.2 if method == "lime" else 0.1) * top


def test_generates_when_no_target_and_words_or_tokens():
    model, tok = toy_language_model()
    res = explain_generation(model, tok, "say red then blue", gen_args={"max_new_tokens": 2})
    assert res.output_tokens == ["red", "red"] and res.token_attr.shape == (2, 4)
    tokens = explain_generation(model, tok, "say red", target="red", granularity="token")
    assert tokens.input_tokens == ["say", "red"]


@pytest.mark.parametrize(
    "kwargs, error, match",
    [
        ({"prompt": ""}, ValueError, "`prompt` is empty"),
        ({"prompt": 3}, TypeError, "`prompt`"),
        ({"method": "magic"}, ValueError, "`method`"),
        ({"granularity": "sentence"}, ValueError, "`granularity`"),
        (
            {"method": "layer_integrated_gradients", "granularity": "word"},
            ValueError,
            "gradient methods",
        ),
        ({"target": 5}, TypeError, "`target`"),
        ({"model": None}, TypeError, "`model`"),
        ({"tokenizer": None}, TypeError, "`tokenizer`"),
    ],
)
def test_bad_arguments_are_named(kwargs, error, match):
    model, tok = toy_language_model()
    args = {"model": model, "tokenizer": tok, "prompt": "say red", "target": "red"} | kwargs
    with pytest.raises(error, match=match):
        explain_generation(**args)


def test_a_hugging_face_model_end_to_end():
    pytest.importorskip("transformers")
    from perspicio.text.demo_lm import capital_cities_lm

    model, tok = capital_cities_lm()
    res = explain_generation(model, tok, "we ate soup . the capital of peru is")
    assert res.output_tokens[0] == "lima"
    attr = res.seq_attr_dict  # the country counts more than any word of the distractor
    assert all(attr["peru"] > attr[w] for w in ["we", "ate", "soup"])
    assert "<bos>" not in res.input_tokens
