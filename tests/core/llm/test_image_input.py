"""ImageMaskInput: image segments as the features of a vision-language model's prompt;
agreement with Captum 0.9 on a toy and on tiny Hugging Face LLaVA, Idefics3 and Qwen2-VL
models (random weights, built offline)."""

import numpy as np
import pytest
import torch
from PIL import Image
from torch import nn

import perspicio.core as P
from perspicio.core.llm.multimodal import score_stepwise

from . import vlms

torch.set_num_threads(1)


def _mask():
    """Four segments of the 24 x 20 scene, ids 0, 3, 7, 10 (mapped to 0..3)."""
    mask = torch.zeros(20, 24, dtype=torch.long)
    mask[:, 12:] = 3
    mask[10:, :] += 7
    return mask


def _overlapping():
    a, b, c = (torch.zeros(20, 24, dtype=torch.bool) for _ in range(3))
    a[:, :14], b[:, 10:], c[5:15, 5:20] = True, True, True
    return [a, b, c]


# ------------------------------------------------------------------------------ input
def test_mask_ids_become_features_in_sorted_order_and_paint_their_pixels():
    image = vlms.scene(0)
    inp = P.ImageMaskInput(image, mask=_mask(), baseline=(1, 2, 3))
    assert inp.n_itp_features == 4 and inp.to_tensor().tolist() == [[1.0] * 4]
    assert inp.values == [
        "image_feature_0",
        "image_feature_3",
        "image_feature_7",
        "image_feature_10",
    ]
    assert inp.mask_id_to_idx == {0: 0, 3: 1, 7: 2, 10: 3}
    assert inp.to_model_input() is inp.original_model_inputs
    painted = np.asarray(inp.to_model_input(torch.tensor([[1.0, 0.0, 1.0, 0.0]])))
    original = np.asarray(image)
    absent = ((_mask() == 3) | (_mask() == 10)).numpy()
    assert (painted[absent] == [1, 2, 3]).all()
    assert (painted[~absent] == original[~absent]).all()
    whole = P.ImageMaskInput(image)
    assert whole.n_itp_features == 1 and whole.values == ["image_feature_0"]


def test_mask_list_features_overlap_and_pixel_attributions_add_up():
    masks = _overlapping()
    inp = P.ImageMaskInput(vlms.scene(1), mask=torch.ones(3, 3), mask_list=masks)
    assert inp.values == ["image_feature_0", "image_feature_1", "image_feature_2"]
    painted = np.asarray(inp.to_model_input(torch.tensor([[0.0, 1.0, 1.0]])))
    assert (painted[masks[0].numpy()] == 255).all()
    pixel = inp.format_pixel_attr(torch.tensor([[1.0, 10.0, 100.0]]))
    assert pixel.shape == (1, 20, 24)
    expected = sum(v * m.float() for v, m in zip((1.0, 10.0, 100.0), masks))
    assert torch.equal(pixel[0], expected)
    per_token = inp.format_pixel_attr(torch.ones(5, 3))
    assert per_token.shape == (5, 20, 24)
    grid = P.ImageMaskInput(vlms.scene(1), mask=_mask())
    assert torch.equal(
        grid.format_pixel_attr(torch.tensor([[1.0, 2.0, 3.0, 4.0]]))[0],
        torch.tensor([1.0, 2.0, 3.0, 4.0])[torch.bucketize(_mask(), torch.tensor([0, 3, 7, 10]))],
    )


def test_grey_images_take_one_baseline_value():
    image = Image.fromarray(np.full((4, 6), 9, dtype=np.uint8))
    inp = P.ImageMaskInput(image, baseline=(0,))
    assert np.asarray(inp.to_model_input(torch.zeros(1, 1))).max() == 0


@pytest.mark.parametrize(
    "kwargs, error, match",
    [
        (dict(mask=torch.zeros(24, 20)), ValueError, r"`mask` has shape \(24, 20\).*\(20, 24\)"),
        (
            dict(mask_list=[torch.ones(20, 24), torch.ones(5, 5)]),
            ValueError,
            r"`mask_list\[1\]` has shape \(5, 5\)",
        ),
        (
            dict(mask_list=[torch.ones(20, 24), torch.zeros(20, 24)]),
            ValueError,
            r"`mask_list\[1\]` selects no pixel",
        ),
        (dict(mask_list=[]), ValueError, "`mask_list` is empty"),
        (dict(mask_list=torch.ones(2, 20, 24)), TypeError, "`mask_list` must be a list"),
        (dict(mask=[[0]]), TypeError, "`mask` must be a tensor"),
        (dict(baseline=(0, 0)), ValueError, "`baseline` has 2 values.*3 channel"),
        (dict(processor_fn="processor"), TypeError, "`processor_fn` must be callable"),
    ],
)
def test_bad_masks_are_named(kwargs, error, match):
    with pytest.raises(error, match=match):
        P.ImageMaskInput(vlms.scene(0), **kwargs)
    with pytest.raises(TypeError, match="`image` must be a PIL image"):
        P.ImageMaskInput(np.zeros((4, 4, 3)))


def test_a_processor_that_drops_the_image_is_refused_at_attribute():
    model, tok, fn = vlms.toy()
    fixed = fn(vlms.scene(0))
    la = P.LLMAttribution(P.FeatureAblation(model), tok)
    with pytest.raises(ValueError, match="the image does not reach the model"):
        la.attribute(
            P.ImageMaskInput(vlms.scene(0), processor_fn=lambda image: fixed), target="a red circle"
        )
    with pytest.raises(TypeError, match="mapping with 'input_ids'"):
        la.attribute(P.ImageMaskInput(vlms.scene(0)), target="a red circle")


def test_segment_pictures_and_the_heat_map():
    model, tok, fn = vlms.toy()
    inp = P.ImageMaskInput(vlms.scene(0), mask_list=_overlapping(), processor_fn=fn)
    fig, ax = inp.plot_mask_overlay(border_width=1)
    assert [t.get_text() for t in ax.texts] == ["0", "1", "2"]
    res = P.LLMAttribution(P.FeatureAblation(model), tok).attribute(inp, target="a red circle")
    for pos in (None, 1, (0, 2)):
        fig, ax = res.plot_image_heatmap(target_token_pos=pos)
        assert len(ax.images) == 2 + 3  # the grey image, the heat map, three borders
    assert res.plot() is not None
    lime = P.LLMAttribution(P.Lime(model), tok).attribute(
        inp, target="a red circle", n_samples=20, generator=0
    )
    with pytest.raises(ValueError, match="no per-token attribution"):
        lime.plot_image_heatmap(target_token_pos=0)
    text = P.LLMAttributionResult(input_tokens=["a"], output_tokens=["b"], seq_attr=[1.0])
    with pytest.raises(ValueError, match="needs a result of an ImageMaskInput"):
        text.plot_image_heatmap()


# ---------------------------------------------------------------------------- scoring
def test_painted_images_share_model_calls_and_equal_one_by_one_scoring():
    model, tok, fn = vlms.toy()
    calls = []
    model.register_forward_hook(
        lambda m, a, k, o: calls.append(k["pixel_values"].shape[0]), with_kwargs=True
    )
    inp = P.ImageMaskInput(vlms.scene(0), mask=_mask(), processor_fn=fn)
    target = torch.tensor(tok.encode("a red circle ."))
    la = P.LLMAttribution(P.FeatureAblation(model), tok)
    res = la.attribute(inp, target=target)
    assert la.scoring == "one pass"
    assert max(calls) == 5 and len(calls) <= target.numel() + 3  # the checks, then one batch
    whole = score_stepwise(model, fn(vlms.scene(0)), target).sum()
    for k in range(4):
        row = torch.ones(1, 4)
        row[0, k] = 0
        alone = score_stepwise(model, inp.to_model_input(row), target).sum()
        assert torch.allclose(res.seq_attr[k], whole - alone, atol=1e-5)


class _BatchMean(vlms.ToyVLM):
    """Its image feature is averaged over the batch: scores depend on the batch."""

    def forward(self, input_ids, pixel_values, attention_mask=None, **_):
        return super().forward(
            input_ids, pixel_values.mean(0, keepdim=True).expand_as(pixel_values), attention_mask
        )


class _Bidirectional(vlms.ToyVLM):
    """Every position reads the mean of the whole sequence: teacher forcing is not exact."""

    def forward(self, input_ids, pixel_values, attention_mask=None, **_):
        out = super().forward(input_ids, pixel_values, attention_mask)
        out.logits = out.logits.mean(1, keepdim=True).expand_as(out.logits)
        return out


@pytest.mark.parametrize(
    "cls, mode", [(_BatchMean, "one pass, one a call"), (_Bidirectional, "stepwise")]
)
def test_models_that_break_a_shortcut_are_scored_by_the_definition(cls, mode):
    C = pytest.importorskip("captum.attr")
    _, tok, fn = vlms.toy()
    model = cls(len(tok)).eval()
    target = torch.tensor(tok.encode("a red circle ."))
    la = P.LLMAttribution(P.FeatureAblation(model), tok)
    ours = la.attribute(
        P.ImageMaskInput(vlms.scene(0), mask=_mask(), processor_fn=fn), target=target
    )
    assert la.scoring == mode
    theirs = C.LLMAttribution(C.FeatureAblation(model), tok).attribute(
        C.ImageMaskInput(vlms.scene(0), mask=_mask(), processor_fn=fn),
        target=target,
        use_cached_outputs=False,
    )
    assert torch.allclose(ours.token_attr, theirs.token_attr, atol=1e-5)


# ----------------------------------------------------------------- agreement with Captum
def _same(ours, theirs, atol=1e-5):
    assert ours.input_tokens == theirs.input_tokens
    assert torch.allclose(ours.seq_attr, theirs.seq_attr.float(), atol=atol)
    if theirs.token_attr is not None:
        assert torch.allclose(ours.token_attr, theirs.token_attr.float(), atol=atol)


@pytest.mark.parametrize("segments", ["mask", "mask_list"])
def test_toy_agrees_with_captum_for_every_method(segments):
    C = pytest.importorskip("captum.attr")
    model, tok, fn = vlms.toy()
    target = torch.tensor(tok.encode("a red circle ."))
    seg = {"mask": _mask()} if segments == "mask" else {"mask_list": _overlapping()}

    def run(lib, method, **kw):
        inp = lib.ImageMaskInput(vlms.scene(2), processor_fn=fn, baseline=(0, 0, 0), **seg)
        extra = {"use_cached_outputs": False} if lib is C else {}
        return lib.LLMAttribution(getattr(lib, method)(model), tok).attribute(
            inp, target=target, **extra, **kw
        )

    for method in ("FeatureAblation", "ShapleyValues"):  # exact: equal
        _same(run(P, method), run(C, method))
    exact = run(C, "ShapleyValues").seq_attr.float()
    scale = float(exact.abs().max())
    # the sampling methods: ours with its generator, Captum with the global seed; both
    # estimate the same values
    svs = run(P, "ShapleyValueSampling", n_samples=60, generator=0)
    torch.manual_seed(0)
    theirs = run(C, "ShapleyValueSampling", n_samples=60)
    assert torch.allclose(svs.seq_attr, exact, atol=0.15 * scale)
    assert torch.allclose(theirs.seq_attr.float(), exact, atol=0.15 * scale)
    assert svs.token_attr.shape == theirs.token_attr.shape
    ks = run(P, "KernelShap", n_samples=300, generator=0)
    assert ks.token_attr is None and torch.allclose(ks.seq_attr, exact, atol=0.15 * scale)
    torch.manual_seed(0)
    lime_theirs = run(C, "Lime", n_samples=300)
    lime = run(P, "Lime", n_samples=300, generator=0)
    assert torch.allclose(lime.seq_attr, lime_theirs.seq_attr.float(), atol=0.2 * scale)


def _idefics3():
    import transformers as T

    tok = vlms.word_tokenizer(["<fake_token_around_image>", "<image>", "<global-img>"])
    vocab = tok.get_vocab()
    proc = T.Idefics3Processor(
        image_processor=T.Idefics3ImageProcessor(
            do_image_splitting=False, size={"longest_edge": 32}, max_image_size={"longest_edge": 32}
        ),
        tokenizer=tok,
        image_seq_len=4,
    )
    config = T.Idefics3Config(
        vision_config=dict(
            hidden_size=32,
            intermediate_size=64,
            num_hidden_layers=2,
            num_attention_heads=4,
            image_size=32,
            patch_size=8,
        ),
        text_config=dict(model_type="llama", **vlms._text_config(len(vocab))),
        image_token_id=vocab["<image>"],
        scale_factor=2,
    )
    torch.manual_seed(0)
    return T.Idefics3ForConditionalGeneration(config).eval(), proc


class _ExtendTokenTypes(nn.Module):
    """Qwen2-VL for Captum's uncached loop, which lengthens ``input_ids`` but not
    ``mm_token_type_ids`` (Qwen2-VL refuses the mismatch): the target's entries are text (0)."""

    def __init__(self, model):
        super().__init__()
        self.model = model

    def forward(self, input_ids, mm_token_type_ids=None, **kw):
        if mm_token_type_ids is not None:
            extra = input_ids.shape[1] - mm_token_type_ids.shape[1]
            mm_token_type_ids = nn.functional.pad(mm_token_type_ids, (0, extra))
        return self.model(input_ids=input_ids, mm_token_type_ids=mm_token_type_ids, **kw)


@pytest.mark.parametrize("arch", ["llava", "idefics3", "qwen2_vl"])
def test_tiny_hugging_face_vlms_agree_with_captum_and_with_generate(arch):
    C = pytest.importorskip("captum.attr")
    pytest.importorskip("transformers")
    if arch == "llava":
        model, proc = vlms.llava()
        prompt = vlms.LLAVA_PROMPT
    elif arch == "idefics3":
        model, proc = _idefics3()
        prompt = "user : <image> what shape is there ? assistant :"
    else:
        model, proc = vlms.qwen2_vl()
        prompt = vlms.QWEN_PROMPT
    tok, fn = proc.tokenizer, vlms.processor_fn(proc, prompt)
    image = vlms.scene(3)
    # the target: what the model generates (4 tokens), scored as generate() scores it
    out = model.generate(
        **fn(image),
        max_new_tokens=4,
        min_new_tokens=4,
        do_sample=False,
        output_logits=True,
        return_dict_in_generate=True,
    )
    target = out.sequences[0, fn(image)["input_ids"].shape[1] :]
    generated = torch.stack(
        [torch.log_softmax(s[0].float(), -1)[t] for s, t in zip(out.logits, target)]
    )
    assert torch.allclose(score_stepwise(model, fn(image), target), generated, atol=1e-5)
    theirs_model = _ExtendTokenTypes(model) if arch == "qwen2_vl" else model
    for method, seg in (
        ("FeatureAblation", {"mask": _mask()}),
        ("ShapleyValues", {"mask_list": _overlapping()}),
    ):
        la = P.LLMAttribution(getattr(P, method)(model), tok)
        ours = la.attribute(P.ImageMaskInput(image, processor_fn=fn, **seg), target=target)
        assert la.scoring == "one pass"
        theirs = C.LLMAttribution(getattr(C, method)(theirs_model), tok).attribute(
            C.ImageMaskInput(image, processor_fn=fn, **seg), target=target, use_cached_outputs=False
        )
        _same(ours, theirs)
    assert torch.allclose(ours.output_probs.log(), generated, atol=1e-5)


def test_the_target_is_generated_with_the_image():
    pytest.importorskip("transformers")
    model, proc = vlms.llava()
    fn = vlms.processor_fn(proc, vlms.LLAVA_PROMPT)
    inp = P.ImageMaskInput(vlms.scene(0), mask=_mask(), processor_fn=fn)
    res = P.LLMAttribution(P.FeatureAblation(model), proc.tokenizer).attribute(
        inp, gen_args={"max_new_tokens": 3, "min_new_tokens": 3, "do_sample": False}
    )
    expected = model.generate(
        **fn(vlms.scene(0)), max_new_tokens=3, min_new_tokens=3, do_sample=False
    )[0, -3:]
    assert res.output_tokens == proc.tokenizer.convert_ids_to_tokens(expected.tolist())
    assert res.token_attr.shape == (3, 4)
