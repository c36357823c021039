"""Tiny vision-language models for tests and benchmarks, built offline: a hand-written toy
whose ``forward`` takes ``input_ids`` and ``pixel_values``, and Hugging Face LLaVA and
Qwen2-VL models with random weights, word-level tokenizers and real processors (no
download)."""

from __future__ import annotations

from types import SimpleNamespace

import numpy as np
import torch
from PIL import Image
from torch import nn

WORDS = (
    "user : assistant what shape is there ? describe the image a red blue green "
    "circle square triangle and ."
).split()


def word_tokenizer(special: list[str]):
    """A Hugging Face fast tokenizer over :data:`WORDS` (no BOS added), with ``special``
    image tokens as added special tokens."""
    from tokenizers import Tokenizer, models, pre_tokenizers
    from transformers import PreTrainedTokenizerFast

    vocab = {w: i for i, w in enumerate(["<pad>", "<unk>", "<eos>", *WORDS])}
    raw = Tokenizer(models.WordLevel(vocab=vocab, unk_token="<unk>"))
    raw.pre_tokenizer = pre_tokenizers.WhitespaceSplit()
    tok = PreTrainedTokenizerFast(
        tokenizer_object=raw, unk_token="<unk>", pad_token="<pad>", eos_token="<eos>"
    )
    tok.add_tokens(special, special_tokens=True)
    return tok


def scene(seed: int = 0, size: tuple[int, int] = (24, 20)) -> Image.Image:
    """A random RGB image ``size`` = (width, height)."""
    rng = np.random.RandomState(seed)
    return Image.fromarray((rng.rand(size[1], size[0], 3) * 255).astype("uint8"))


# ------------------------------------------------------------------------------ toy
class ToyVLM(nn.Module):
    """A causal toy: each position's logits read the mean embedding of the tokens so far
    plus a linear map of the image's 2 x 2 block colours (``pixel_values`` ``(B, 3, H, W)``)."""

    def __init__(self, vocab: int, dim: int = 16, seed: int = 0) -> None:
        super().__init__()
        torch.manual_seed(seed)
        self.embed = nn.Embedding(vocab, dim)
        self.image = nn.Linear(12, dim)
        self.head = nn.Linear(dim, vocab)

    def forward(self, input_ids, pixel_values, attention_mask=None, **_):
        x = self.embed(input_ids)
        prefix = x.cumsum(1) / torch.arange(1, x.shape[1] + 1, device=x.device)[None, :, None]
        blocks = nn.functional.adaptive_avg_pool2d(pixel_values, 2).flatten(1)
        hidden = torch.tanh(prefix + 3 * self.image(blocks)[:, None])
        return SimpleNamespace(logits=self.head(hidden))


def toy(prompt: str = "what shape is there ?"):
    """``(model, tokenizer, processor_fn)`` of :class:`ToyVLM`."""
    tok = word_tokenizer([])
    model = ToyVLM(len(tok)).eval()

    def processor_fn(image):
        ids = torch.tensor([tok.encode(prompt)])
        pixels = torch.from_numpy(np.asarray(image, dtype=np.float32) / 255).permute(2, 0, 1)
        return {"input_ids": ids, "pixel_values": pixels[None]}

    return model, tok, processor_fn


# ------------------------------------------------------------------------------- HF
def _text_config(vocab: int, **extra):
    return dict(
        vocab_size=vocab,
        hidden_size=32,
        intermediate_size=64,
        num_hidden_layers=2,
        num_attention_heads=4,
        num_key_value_heads=2,
        max_position_embeddings=256,
        pad_token_id=0,
        bos_token_id=None,
        eos_token_id=2,
        **extra,
    )


def llava(seed: int = 0, image_size: int = 32, hidden: int = 32, layers: int = 2):
    """``(model, processor)``: LLaVA (CLIP vision tower, Llama text model), 8-pixel patches
    of a ``image_size`` square: ``(image_size / 8) ** 2`` image tokens."""
    import transformers as T

    tok = word_tokenizer(["<image>"])
    vocab = tok.get_vocab()
    proc = T.LlavaProcessor(
        image_processor=T.CLIPImageProcessor(
            size={"shortest_edge": image_size},
            crop_size={"height": image_size, "width": image_size},
        ),
        tokenizer=tok,
        patch_size=8,
        vision_feature_select_strategy="default",
        image_token="<image>",
        num_additional_image_tokens=1,
    )
    text = _text_config(len(vocab))
    text.update(hidden_size=hidden, intermediate_size=2 * hidden, num_hidden_layers=layers)
    config = T.LlavaConfig(
        vision_config=T.CLIPVisionConfig(
            hidden_size=hidden,
            intermediate_size=2 * hidden,
            num_hidden_layers=layers,
            num_attention_heads=4,
            image_size=image_size,
            patch_size=8,
        ),
        text_config=T.LlamaConfig(**text),
        image_token_index=vocab["<image>"],
        vision_feature_select_strategy="default",
        vision_feature_layer=-1,
    )
    torch.manual_seed(seed)
    return T.LlavaForConditionalGeneration(config).eval(), proc


LLAVA_PROMPT = "user : <image> what shape is there ? assistant :"


def qwen2_vl(seed: int = 0):
    """``(model, processor)``: Qwen2-VL (3-D rotary positions, flattened patches with
    ``image_grid_thw``, ``mm_token_type_ids``); 8-pixel patches merged 2 x 2."""
    import transformers as T

    special = ["<|image_pad|>", "<|vision_start|>", "<|vision_end|>", "<|video_pad|>"]
    tok = word_tokenizer(special)
    tok.image_token, tok.video_token = "<|image_pad|>", "<|video_pad|>"
    vocab = tok.get_vocab()
    proc = T.Qwen2VLProcessor(
        image_processor=T.Qwen2VLImageProcessor(
            min_pixels=16 * 16,
            max_pixels=64 * 64,
            patch_size=8,
            merge_size=2,
            temporal_patch_size=2,
        ),
        tokenizer=tok,
        video_processor=T.Qwen2VLVideoProcessor(),
    )
    config = T.Qwen2VLConfig(
        text_config=_text_config(
            len(vocab), rope_scaling={"type": "mrope", "mrope_section": [2, 1, 1]}
        ),
        vision_config=dict(
            depth=2,
            embed_dim=32,
            hidden_size=32,
            num_heads=2,
            mlp_ratio=2,
            patch_size=8,
            spatial_merge_size=2,
            temporal_patch_size=2,
        ),
        image_token_id=vocab["<|image_pad|>"],
        video_token_id=vocab["<|video_pad|>"],
        vision_start_token_id=vocab["<|vision_start|>"],
        vision_end_token_id=vocab["<|vision_end|>"],
    )
    torch.manual_seed(seed)
    return T.Qwen2VLForConditionalGeneration(config).eval(), proc


QWEN_PROMPT = "user : <|vision_start|><|image_pad|><|vision_end|> what shape is there ? assistant :"


def processor_fn(proc, prompt: str):
    """Captum's documented form: an image to the model's inputs, the prompt included."""
    return lambda image: proc(text=prompt, images=image, return_tensors="pt")
