"""Text-generation attribution: inputs, scoring, the methods on models with known answers."""

import pytest
import torch
from torch import nn

import perspicio.core as P
from perspicio.core.llm.demo import WordTokenizer, toy_language_model
from perspicio.core.llm.scoring import one_pass_is_exact, score_one_pass, score_stepwise


# ----------------------------------------------------------------------------- inputs
def test_template_input_switches_slots_to_their_baselines():
    inp = P.TextTemplateInput(
        "{a} met {b} in {c}",
        {"a": "Ada", "b": "Bo", "c": "Rome"},
        baselines={"a": "X", "b": "Y", "c": "Z"},
    )
    assert inp.to_model_input() == "Ada met Bo in Rome"
    assert inp.to_model_input(torch.tensor([[0.0, 1.0, 0.0]])) == "X met Bo in Z"
    grouped = P.TextTemplateInput("{} {} {}", ["a", "b", "c"], mask=[5, 9, 5])
    assert grouped.n_itp_features == 2 and grouped.to_tensor().shape == (1, 2)
    assert grouped.to_model_input(torch.tensor([[0.0, 1.0]])) == " b "
    assert grouped.format_attr(torch.tensor([1.0, 2.0])).tolist() == [1.0, 2.0, 1.0]


def test_token_input_keeps_skipped_tokens_and_replaces_the_others():
    tok = WordTokenizer(["a", "b", "c"], bos="<s>")
    inp = P.TextTokenInput("a b c", tok, baselines="<pad>", skip_tokens=["<s>"])
    assert inp.values == ["a", "b", "c"] and inp.n_itp_features == 3
    ids = inp.to_model_input(torch.tensor([[1.0, 0.0, 1.0]]))[0].tolist()
    assert ids == tok.encode("<s> a <pad> c", add_special_tokens=False)


@pytest.mark.parametrize(
    "make, match",
    [
        (lambda tok: P.TextTemplateInput("{} and {}", ["a"]), "has 2 slot"),
        (lambda tok: P.TextTemplateInput("{x} and {y}", {"x": "a", "z": "b"}), "slots"),
        (lambda tok: P.TextTemplateInput("{} {}", ["a", "b"], baselines=["c"]), "baselines"),
        (lambda tok: P.TextTemplateInput("{}", []), "empty"),
        (lambda tok: P.TextTokenInput("   ", tok), "empty"),
        (lambda tok: P.TextTokenInput("a", tok, skip_tokens=["a"]), "no token left"),
    ],
)
def test_bad_inputs_are_named(make, match):
    tok = WordTokenizer(["a", "b"])
    with pytest.raises(ValueError, match=match):
        make(tok)


# ---------------------------------------------------------------------------- scoring
def _causal_lms():
    transformers = pytest.importorskip("transformers")
    torch.manual_seed(0)
    gpt2 = transformers.GPT2LMHeadModel(
        transformers.GPT2Config(
            vocab_size=40,
            n_positions=64,
            n_embd=32,
            n_layer=2,
            n_head=2,
            eos_token_id=1,
            bos_token_id=1,
        )
    ).eval()
    llama = transformers.LlamaForCausalLM(
        transformers.LlamaConfig(
            vocab_size=40,
            hidden_size=32,
            intermediate_size=64,
            num_hidden_layers=2,
            num_attention_heads=4,
            num_key_value_heads=2,
            max_position_embeddings=64,
        )
    ).eval()
    return {"gpt2": gpt2, "llama": llama}


@pytest.mark.parametrize("name", ["gpt2", "llama"])
def test_padded_batched_scoring_equals_one_by_one_token_by_token(name):
    model = _causal_lms()[name]
    g = torch.Generator().manual_seed(1)
    prompts = [torch.randint(2, 40, (k,), generator=g) for k in (3, 9, 5, 1)]
    target = torch.randint(2, 40, (4,), generator=g)
    batched = score_one_pass(model, prompts, target, pad_id=0)
    alone = torch.stack([score_stepwise(model, p, target) for p in prompts])
    assert torch.allclose(batched, alone, atol=1e-5)
    assert one_pass_is_exact(model, prompts[1], target)


class Bidirectional(nn.Module):
    """Each position's logits see the whole sequence: teacher forcing would be wrong."""

    def __init__(self):
        super().__init__()
        torch.manual_seed(0)
        self.embed = nn.Embedding(20, 8)
        self.out = nn.Linear(16, 20)

    def forward(self, ids, attention_mask=None):
        e = self.embed(ids)
        context = e.mean(1, keepdim=True).expand_as(e)
        return self.out(torch.cat([e, context], -1))


def test_a_model_that_sees_later_tokens_is_scored_by_the_definition():
    tok = WordTokenizer([f"w{i}" for i in range(17)])
    model = Bidirectional()
    prompt, target = torch.tensor([3, 4, 5]), torch.tensor([6, 7])
    assert not one_pass_is_exact(model, prompt, target)
    la = P.LLMAttribution(P.FeatureAblation(model), tok)
    res = la.attribute(P.TextTokenInput("w1 w2 w3", tok), target=target)
    assert la.scoring == "stepwise"
    full = score_stepwise(model, prompt, target)
    assert torch.allclose(res.output_probs, full.exp(), atol=1e-6)
    # dropping "w1" (id 3 -> baseline 0): the drop of the total log-probability
    dropped = score_stepwise(model, torch.tensor([0, 4, 5]), target)
    assert torch.allclose(res.seq_attr[0], full.sum() - dropped.sum(), atol=1e-5)


# ------------------------------------------------------------- methods, known answers
@pytest.mark.parametrize(
    "method, kwargs",
    [
        (P.FeatureAblation, {}),
        (P.ShapleyValues, {}),
        (P.ShapleyValueSampling, {"n_samples": 30, "generator": 0}),
        (P.KernelShap, {"n_samples": 200, "generator": 0}),
        (P.Lime, {"n_samples": 200, "generator": 0}),
    ],
)
def test_the_copied_word_explains_the_answer(method, kwargs):
    model, tok = toy_language_model()
    inp = P.TextTemplateInput("say {} then {} and {}", ["blue", "red", "green"])
    la = P.LLMAttribution(method(model), tok)
    res = la.attribute(inp, target="blue blue", **kwargs)
    assert la.scoring == "one pass"
    assert res.input_tokens == ["blue", "red", "green"]
    assert res.output_tokens == ["blue", "blue"]
    assert int(res.seq_attr.argmax()) == 0
    assert torch.allclose(res.seq_attr[1:], torch.zeros(2), atol=0.05)
    if method in (P.Lime, P.KernelShap):
        assert res.token_attr is None
    else:  # log-probabilities add up over the tokens, and so do their attributions
        assert res.token_attr.shape == (2, 3)
        assert torch.allclose(res.token_attr.sum(0), res.seq_attr, atol=1e-4)


def test_each_distinct_prompt_is_scored_once_and_the_result_is_reproducible():
    model, tok = toy_language_model()
    calls = []
    forward = model.forward

    def counting(ids, attention_mask=None):
        calls.append(ids.shape[0])
        return forward(ids, attention_mask)

    model.forward = counting
    inp = P.TextTemplateInput("say {} then {} and {}", ["blue", "red", "green"])
    la = P.LLMAttribution(P.ShapleyValueSampling(model), tok)
    first = la.attribute(inp, target="blue", n_samples=200, generator=3)
    # 2^3 coalitions at most, in one batch (plus the causality check: 1 + 1 calls)
    assert sum(calls[2:]) <= 8 and len(calls) <= 4
    again = la.attribute(inp, target="blue", n_samples=200, generator=3)
    assert torch.equal(first.seq_attr, again.seq_attr)


def test_generation_when_no_target_is_given():
    model, tok = toy_language_model()
    res = P.LLMAttribution(P.FeatureAblation(model), tok).attribute(
        P.TextTokenInput("say red then blue", tok), gen_args={"max_new_tokens": 2}
    )
    assert res.output_tokens == ["red", "red"] and res.token_attr.shape == (2, 4)
    assert int(res.seq_attr.argmax()) in (0, 1)  # "say" or "red" (both needed)


def test_gradient_attribution_is_complete_per_token_and_batched_equals_per_token():
    model, tok = toy_language_model()
    inp = P.TextTokenInput("say blue then red", tok)
    lig = P.LLMGradientAttribution(P.LayerIntegratedGradients(model, model.embed), tok)
    res = lig.attribute(inp, target="blue blue", n_steps=64)
    assert lig.scoring == "one pass"
    assert res.token_attr.shape == (2, 4) and int(res.seq_attr.argmax()) == 1
    # completeness per token: the prompt moves from token 0 to itself, the generated
    # tokens stay; log p(blue | prompt) - log p(blue | baseline prompt)
    base = torch.zeros(4, dtype=torch.long)
    prompt = inp.to_model_input()[0]
    target = torch.tensor(tok.encode("blue blue"))
    for t in range(2):
        hi = score_stepwise(model, prompt, target)[t]
        lo = score_stepwise(model, torch.cat([base, target[:t]]), target[t : t + 1])[0]
        assert torch.allclose(res.token_attr[t].sum(), hi - lo, atol=1e-3)
    # one call per target token (as for a model that is not causal) gives the same numbers
    import perspicio.core.llm.gradient as G

    original = G.one_pass_is_exact
    G.one_pass_is_exact = lambda *a, **k: False
    try:
        per_token = lig.attribute(inp, target="blue blue", n_steps=64)
    finally:
        G.one_pass_is_exact = original
    assert torch.allclose(per_token.token_attr, res.token_attr, atol=1e-5)


def test_layer_gradient_shap_on_token_ids_interpolates_at_the_embedding():
    model, tok = toy_language_model()
    inp = P.TextTokenInput("say blue then red", tok)
    lgs = P.LLMGradientAttribution(P.LayerGradientShap(model, model.embed), tok)
    res = lgs.attribute(
        inp, target="blue", baselines=torch.zeros(3, 4, dtype=torch.long), n_samples=20, generator=0
    )
    assert int(res.seq_attr.argmax()) == 1


def test_result_plots_and_html_escape_tokens():
    res = P.LLMAttributionResult(
        input_tokens=["<b>", "x"],
        output_tokens=["&"],
        seq_attr=[0.5, -0.2],
        token_attr=[[0.5, -0.2]],
        output_probs=[0.9],
    )
    fig, ax = res.plot_token_attr()
    assert fig.axes and [t.get_text() for t in ax.get_xticklabels()] == ["<b>", "x"]
    fig, ax = res.plot_seq_attr()
    assert len(ax.patches) == 2
    page = res.to_html()
    assert "&lt;b&gt;" in page and "<b>" not in page and "&amp;" in page
    with pytest.raises(ValueError, match="token_attr"):
        P.LLMAttributionResult(
            input_tokens=["a"], output_tokens=["b"], seq_attr=[1.0]
        ).plot_token_attr()


def test_bad_arguments_are_named():
    model, tok = toy_language_model()
    la = P.LLMAttribution(P.FeatureAblation(model), tok)
    inp = P.TextTokenInput("say blue", tok)
    with pytest.raises(TypeError, match="TextTokenInput"):
        la.attribute("say blue", target="blue")
    with pytest.raises(ValueError, match="empty"):
        la.attribute(inp, target="")
    with pytest.raises(ValueError, match="outside the vocabulary"):
        la.attribute(inp, target=torch.tensor([999]))
    with pytest.raises(TypeError, match="attr_method"):
        P.LLMAttribution(P.IntegratedGradients(model), tok)
    with pytest.raises(ValueError, match="attr_target"):
        P.LLMAttribution(P.FeatureAblation(model), tok, attr_target="logit")
    with pytest.raises(TypeError, match="layer method"):
        P.LLMGradientAttribution(P.FeatureAblation(model), tok)
    with pytest.raises(NotImplementedError):
        la.attribute_future()


def test_agrees_with_captum_on_a_hugging_face_model():
    C = pytest.importorskip("captum.attr")
    transformers = pytest.importorskip("transformers")
    from perspicio.text.demo_lm import word_tokenizer

    tok = word_tokenizer()
    torch.manual_seed(0)
    model = transformers.GPT2LMHeadModel(
        transformers.GPT2Config(
            vocab_size=len(tok),
            n_positions=64,
            n_embd=32,
            n_layer=2,
            n_head=2,
            bos_token_id=2,
            eos_token_id=2,
        )
    ).eval()
    text, target = "i flew to peru . the capital of japan is", "tokyo ."
    target_ids = torch.tensor(tok.encode(target, add_special_tokens=False))
    # Captum's KV-cache path scores GPT-2 0.0005 away from the definition on this model
    # (its uncached path and a token-by-token loop agree with perspicio to 1e-7)
    ours = P.LLMAttribution(P.FeatureAblation(model), tok).attribute(
        P.TextTokenInput(text, tok, skip_tokens=[2]), target=target_ids
    )
    theirs = C.LLMAttribution(C.FeatureAblation(model), tok).attribute(
        C.TextTokenInput(text, tok, skip_tokens=[2]),
        target=target_ids,
        use_cached_outputs=False,
    )
    assert torch.allclose(ours.seq_attr, theirs.seq_attr.float(), atol=1e-5)
    assert torch.allclose(ours.token_attr, theirs.token_attr.float(), atol=1e-5)
    # exact Shapley values over three template slots (Captum walks all orderings)
    values = ["i flew to peru .", "it rained in oslo .", "japan"]
    template = "{} {} the capital of {} is"
    ours = P.LLMAttribution(P.ShapleyValues(model), tok).attribute(
        P.TextTemplateInput(template, values), target=target_ids
    )
    theirs = C.LLMAttribution(C.ShapleyValues(model), tok).attribute(
        C.TextTemplateInput(template, values), target=target_ids, use_cached_outputs=False
    )
    assert torch.allclose(ours.seq_attr, theirs.seq_attr.float(), atol=1e-5)
    assert torch.allclose(ours.token_attr, theirs.token_attr.float(), atol=1e-5)


def test_vllm_provider_reads_the_target_log_probs(monkeypatch):
    openai = pytest.importorskip("openai")
    from types import SimpleNamespace as NS

    tok = WordTokenizer(["a", "b", "c"])

    class Client:
        def __init__(self, **_):
            self.models = NS(list=lambda: NS(data=[NS(id="served")]))
            self.completions = NS(create=self.create)

        def create(self, **kw):
            if "extra_body" in kw:  # prompt log-probs of "a b" + "c": three entries
                entries = [None, {"1": {"logprob": -0.1}}, {"2": {"logprob": -0.7}}]
                return NS(choices=[NS(prompt_logprobs=entries)])
            return NS(choices=[NS(text="c")])

    monkeypatch.setattr(openai, "OpenAI", Client)
    provider = P.VLLMProvider("http://localhost:8000/v1")
    assert provider.model_name == "served" and provider.generate("a b") == "c"
    assert provider.get_logprobs("a b ", "c", tok) == [-0.7]
    with pytest.raises(ValueError, match="API URL"):
        P.VLLMProvider(" ")


@pytest.mark.slow
def test_the_country_decides_the_capital_in_held_out_prompts():
    pytest.importorskip("transformers")
    from perspicio.text.demo_lm import capital_cities_lm, capital_prompts

    torch.set_num_threads(1)
    model, tok = capital_cities_lm()
    prompts = capital_prompts(40, seed=7)
    methods = {
        "FeatureAblation": (P.FeatureAblation, {}),
        "ShapleyValueSampling": (P.ShapleyValueSampling, {"n_samples": 10, "generator": 0}),
        "KernelShap": (P.KernelShap, {"n_samples": 100, "generator": 0}),
    }
    for name, (method, kwargs) in methods.items():
        la = P.LLMAttribution(method(model), tok)
        hits = 0
        for p in prompts:  # slots: each distractor sentence, then the country
            inp = P.TextTemplateInput(
                " ".join(["{}"] * len(p.distractors)) + " the capital of {} is",
                p.distractors + [p.country],
            )
            res = la.attribute(inp, target=p.answer, skip_tokens=[2], **kwargs)
            hits += int(res.seq_attr.argmax()) == len(p.distractors)
        assert hits / len(prompts) >= 0.95, name
    lig = P.LLMGradientAttribution(
        P.LayerIntegratedGradients(model, model.get_input_embeddings()), tok
    )
    hits = 0
    for p in prompts:  # tokens: every word but the question's fixed words
        inp = P.TextTokenInput(p.text, tok, skip_tokens=["<bos>", "the", "capital", "of", "is"])
        base = torch.zeros(1, inp.n_itp_features, dtype=torch.long)
        res = lig.attribute(inp, target=p.answer, skip_tokens=[2], baselines=base, n_steps=32)
        hits += res.input_tokens[int(res.seq_attr.argmax())] == p.country
    assert hits / len(prompts) >= 0.95
