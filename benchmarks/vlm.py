"""Vision-language generation: LLMAttribution with an ImageMaskInput on a tiny LLaVA (CLIP
vision tower + Llama text model, random weights, about 4.9 million parameters) built
offline; a 64 x 64 image in 16 segments (a 4 x 4 grid), a 25-token target."""

from __future__ import annotations

import torch

from perspicio import core as P

from .common import Case

GRID = 4
#: 25 tokens: the length Captum generates by default (``max_new_tokens=25``)
TARGET = (
    "a red circle and a blue square . a green triangle is there . what shape is "
    "there ? a blue circle and a red"
)


def model_and_inputs(device: torch.device):
    """``(model, tokenizer, processor_fn, image, mask, target ids, parameters)``."""
    from tests.core.llm import vlms

    model, proc = vlms.llava(seed=0, image_size=64, hidden=256, layers=4)
    model = model.to(device)
    tok = proc.tokenizer

    def processor_fn(image):
        return proc(text=vlms.LLAVA_PROMPT, images=image, return_tensors="pt").to(device)

    image = vlms.scene(5, size=(64, 64))
    rows = torch.arange(64)[:, None] * GRID // 64
    cols = torch.arange(64)[None, :] * GRID // 64
    mask = rows * GRID + cols
    target = torch.tensor(tok.encode(TARGET, add_special_tokens=False))
    assert target.numel() == 25
    size = sum(p.numel() for p in model.parameters())
    return model, tok, processor_fn, image, mask, target, size


def cases(device: torch.device) -> list[Case]:
    import captum.attr as C

    model, tok, processor_fn, image, mask, target, size = model_and_inputs(device)
    n_features = GRID * GRID

    def run(lib, method, **kwargs):
        inp = lib.ImageMaskInput(image, mask=mask, processor_fn=processor_fn)
        return lib.LLMAttribution(method(model), tok).attribute(inp, target=target, **kwargs)

    def diff(a, b) -> float:
        return float((a.seq_attr.cpu() - b.seq_attr.float().cpu()).abs().max())

    from perspicio.core.llm.multimodal import stack, with_target

    one = with_target(processor_fn(image), target, device)

    def bare(n_images: int):
        """The model's own work: ``n_images`` painted images with the target appended, in
        one forward call (what perspicio's scoring reduces to), no processor, no method."""
        batch = stack([one] * n_images)

        def call():
            with torch.no_grad():
                return model(**batch).logits

        return call

    def one_a_call(n_images: int) -> str:
        """The bare model one image per call (what Captum's one-pass mode reduces to),
        timed once when the settings line is written."""
        import time

        with torch.no_grad():
            model(**one)
            start = time.perf_counter()
            for _ in range(n_images):
                model(**one)
        ms = (time.perf_counter() - start) * 1e3
        return f"; the bare model one image per call: {ms:.0f} ms for {n_images} images"

    one_pass = {"use_cached_outputs": False, "forward_in_tokens": False}
    text = (
        f"tiny LLaVA, {size / 1e6:.1f}M parameters (CLIP ViT 4 x 256 on 8-pixel patches of "
        "64 x 64: 64 image tokens; Llama 4 x 256), 73-token prompt, 25-token target, 16 "
        "segments; perspicio's defaults (teacher-forced, painted images batched, up to 64 a "
        "call); Captum's defaults (one forward call per target token, KV cache)"
    )

    def settings() -> str:
        return text + one_a_call(n_features + 1)

    best = "Captum forward_in_tokens=False (its one-pass mode: one image per forward call)"
    return [
        Case(
            f"ImageMaskInput FeatureAblation, {n_features} segments -> 25 tokens",
            lambda: run(P, P.FeatureAblation),
            lambda: run(C, C.FeatureAblation),
            floor=bare(n_features + 1),
            check=diff,
            theirs_best=lambda: run(C, C.FeatureAblation, **one_pass),
            settings=settings,
            best=best,
        ),
    ]
