"""Text faithfulness metrics: on the sentiment demo, a good explanation (Integrated
Gradients, which finds the sentiment word) beats the 95th percentile of 100 random rankings
on every metric; bad input is named."""

from __future__ import annotations

import pytest
import torch

from perspicio import text
from perspicio.text.metrics import deletion_insertion, eraser, random_like

torch.set_num_threads(1)


@pytest.fixture(scope="module")
def explained():
    import random

    from perspicio.text.demo import FILLER, sentiment_sentences, tiny_bert

    model, tokenizer = tiny_bert()
    texts, _, _ = sentiment_sentences(8, seed=123)  # not the training sentences
    # padded with neutral words to 25+ words: a random ranking then puts the one sentiment
    # word first less than 5% of the time, so beating its 95th percentile means something
    rng = random.Random(0)
    texts = [t.rstrip(".!") + " " + " ".join(rng.choices(FILLER, k=20)) for t in texts]
    return model, tokenizer, text.explain(model, tokenizer, texts)


def test_a_good_explanation_beats_random_rankings_on_every_text_metric(explained):
    model, tokenizer, exps = explained
    good = eraser(model, tokenizer, exps) | deletion_insertion(model, tokenizer, exps)
    randoms = [random_like(e, generator=s) for s in range(100) for e in exps]
    rand = eraser(model, tokenizer, randoms) | deletion_insertion(model, tokenizer, randoms)
    n = len(exps)
    for name, higher in [
        ("comprehensiveness", True),
        ("sufficiency", False),
        ("deletion", False),
        ("insertion", True),
    ]:
        r = rand[name].view(100, n)
        if higher:
            assert (good[name] > r.quantile(0.95, dim=0)).all(), name
        elif name == "sufficiency":  # a floor near 0 that lucky random rankings reach too
            assert (good[name] <= r.quantile(0.05, dim=0) + 1e-3).all(), name
            assert (good[name] < r.median(dim=0).values - 0.05).all(), name
        else:
            assert (good[name] < r.quantile(0.05, dim=0)).all(), name


def test_bad_input_is_named(explained):
    model, tokenizer, exps = explained
    with pytest.raises(TypeError, match="`explanations` must be a TextExplanation"):
        eraser(model, tokenizer, ["a film"])
    with pytest.raises(ValueError, match="`baseline` must be one of"):
        eraser(model, tokenizer, exps[0], baseline="zero")
    model.train()
    model.bert.embeddings.eval()  # a mixed state, as found: the metric must leave it so
    eraser(model, tokenizer, exps[0])
    assert model.training and not model.bert.embeddings.training
    model.eval()
    with pytest.raises(ValueError, match="`fractions` must be shares"):
        eraser(model, tokenizer, exps[0], fractions=[0.0])


def test_an_explained_generation_beats_random_rankings_of_its_prompt():
    """The capital-cities GPT-2 with long prompts (four to six distractor sentences): the
    layer_lrp ranking of the prompt's words removes more of the answer's log-probability
    than the 95th percentile of 100 random rankings (comprehensiveness), per prompt."""
    import copy

    from perspicio.text.demo_lm import capital_cities_lm, capital_prompts
    from perspicio.text.metrics import generation_eraser

    lm, tokenizer = capital_cities_lm()
    gen = torch.Generator().manual_seed(0)
    for prompt in capital_prompts(3, seed=321, distractors=(4, 6)):
        res = text.explain_generation(
            lm, tokenizer, prompt.text, target=prompt.answer, method="layer_lrp"
        )
        good = generation_eraser(lm, tokenizer, res)
        rand = []
        for _ in range(100):
            shuffled = copy.copy(res)
            shuffled.seq_attr = torch.randn(len(res.input_tokens), generator=gen)
            rand.append(generation_eraser(lm, tokenizer, shuffled)["comprehensiveness"])
        assert good["comprehensiveness"] > torch.tensor(rand).quantile(0.95), prompt.text
    with pytest.raises(TypeError, match="`result` must be an explained generation"):
        generation_eraser(lm, tokenizer, "lima")


def test_an_explained_generation_beats_random_rankings_on_deletion_and_insertion():
    """The same GPT-2 and long prompts: removing the prompt's words in layer_lrp's order
    drops the answer's probability faster (deletion area below the 5th percentile of
    100 random rankings), and putting them back restores it faster (insertion above the
    95th), per prompt."""
    import copy

    from perspicio.text.demo_lm import capital_cities_lm, capital_prompts
    from perspicio.text.metrics import generation_deletion_insertion

    lm, tokenizer = capital_cities_lm()
    gen = torch.Generator().manual_seed(0)
    for prompt in capital_prompts(2, seed=321, distractors=(4, 6)):
        res = text.explain_generation(
            lm, tokenizer, prompt.text, target=prompt.answer, method="layer_lrp"
        )
        good = generation_deletion_insertion(lm, tokenizer, res)
        n = len(res.input_tokens)
        assert good["deletion_curve"].shape == (n + 1,)
        # the full prompt at the start of deletion is the empty prompt's end of insertion
        assert good["deletion_curve"][0] == pytest.approx(good["insertion_curve"][-1])
        deletion, insertion = [], []
        for _ in range(100):
            shuffled = copy.copy(res)
            shuffled.seq_attr = torch.randn(n, generator=gen)
            areas = generation_deletion_insertion(lm, tokenizer, shuffled)
            deletion.append(areas["deletion"])
            insertion.append(areas["insertion"])
        assert good["deletion"] < torch.tensor(deletion).quantile(0.05), prompt.text
        assert good["insertion"] > torch.tensor(insertion).quantile(0.95), prompt.text
