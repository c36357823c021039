"""AttnLRP through the text front ends: ``layer_lrp`` finds what the demo models were taught
to use, on padded batches as on single texts, and runs on the architectures of the
registry's promise (BERT, DistilBERT, GPT-2, LLaMA, Qwen2) built from configs."""

from __future__ import annotations

import pytest
import torch

from perspicio import text
from perspicio.core import LRP, LayerLRP

transformers = pytest.importorskip("transformers")
torch.set_num_threads(1)


def test_the_sentiment_word_is_the_most_relevant_and_rows_do_not_interact():
    from perspicio.text.demo import sentiment_sentences, tiny_bert

    model, tokenizer = tiny_bert()
    texts, _, keys = sentiment_sentences(30, seed=99)  # not the training sentences
    batch = text.explain(model, tokenizer, texts, method="layer_lrp")  # one padded batch
    assert all(e.units[int(e.attributions.abs().argmax())] == k for e, k in zip(batch, keys))
    for i in (0, 7):  # a row's explanation is the same alone
        alone = text.explain(model, tokenizer, texts[i], method="layer_lrp")
        torch.testing.assert_close(alone.attributions, batch[i].attributions)
    assert "layer_lrp" in text.METHODS


def test_the_country_is_among_the_two_most_relevant_prompt_tokens():
    from perspicio.text.demo_lm import capital_cities_lm, capital_prompts

    model, tokenizer = capital_cities_lm()
    for prompt in capital_prompts(15, seed=99):
        res = text.explain_generation(
            model, tokenizer, prompt.text, target=prompt.answer, method="layer_lrp"
        )
        top = [res.input_tokens[i] for i in res.seq_attr.argsort(descending=True)[:2]]
        assert prompt.country in top, (prompt.text, top)


class _Logits(torch.nn.Module):
    def __init__(self, model, embeds: bool) -> None:
        super().__init__()
        self.model, self.embeds = model, embeds

    def forward(self, x):
        return self.model(**{"inputs_embeds" if self.embeds else "input_ids": x}).logits


def _small(name: str):
    torch.manual_seed(0)
    common = dict(vocab_size=64, max_position_embeddings=32)
    if name == "distilbert":
        config = transformers.DistilBertConfig(
            dim=32,
            n_layers=2,
            n_heads=4,
            hidden_dim=64,
            dropout=0.0,
            attention_dropout=0.0,
            **common,
        )
        return transformers.DistilBertForSequenceClassification(config)
    kwargs = dict(
        hidden_size=32,
        intermediate_size=64,
        num_hidden_layers=2,
        num_attention_heads=4,
        num_key_value_heads=2,
        **common,
    )
    if name == "llama":
        return transformers.LlamaForCausalLM(transformers.LlamaConfig(**kwargs))
    return transformers.Qwen2ForCausalLM(transformers.Qwen2Config(**kwargs))


@pytest.mark.parametrize("name", ["distilbert", "llama", "qwen2"])
def test_architectures_from_configs_at_their_embedding_layer(name):
    """From token ids at the embedding layer, as from the embeddings themselves; the audit's
    books balance (the inputs' relevance and what each operation kept make the logit)."""
    model = _small(name).double().eval()
    ids = torch.randint(3, 64, (2, 9), generator=torch.Generator().manual_seed(1))
    with torch.no_grad():
        logits = _Logits(model, False)(ids)
    target = (8, 5) if logits.dim() == 3 else 1
    at_layer = LayerLRP(_Logits(model, False), model.get_input_embeddings()).attribute(
        ids, target=target
    )
    embeds = model.get_input_embeddings()(ids).detach()
    lrp = LRP(_Logits(model, True))
    torch.testing.assert_close(at_layer, lrp.attribute(embeds, target=target))
    audit = lrp.audit(embeds, target=target)
    assert audit.output == pytest.approx(
        audit.relevance + sum(audit.absorbed.values()), abs=1e-6 * abs(audit.output) + 1e-9
    )
    assert not any(m._forward_hooks or m._forward_pre_hooks for m in model.modules())
