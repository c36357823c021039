"""A small vision-language model whose answer is decided by a known part of the image.

:func:`shape_scenes` draws 32 x 32 scenes of dark noise with a few thin strokes of random
colours (clutter) and one shape (circle, square or triangle) in red, green or blue, its mask
known. Asked ``"what shape is there ?"`` the model names the shape (``"nothing"`` for a scene
without one, a tenth of its training scenes), so the pixels that decide the answer are the
shape's: an attribution of the answer can be scored against the truth.
:func:`shapes_vlm` is :class:`ShapesVLM`, LLaVA's layout in miniature (a small
convolutional image encoder whose 8 x 8 feature map fills the prompt's 64 ``<image>``
tokens, then a 2-layer causal transformer), read through a real Hugging Face
``LlavaProcessor`` with a word-level tokenizer made on the fly (no download); it is trained
in about a minute on one CPU thread and cached under ``PERSPICIO_CACHE``. (A LLaVA with a
CLIP vision tower trained from scratch here stayed at chance for its first thousand steps:
a convolutional encoder learns shapes far sooner.)

Examples
--------
>>> from perspicio.text.demo_vlm import QUESTION, prompt, shape_scenes
>>> scene = shape_scenes(1, seed=3)[0]
>>> scene.image.size, scene.shape in ("circle", "square", "triangle"), int(scene.mask.sum()) > 0
((32, 32), True, True)
>>> prompt(QUESTION)
'user : what shape is there ? <image> assistant :'
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
import torch
from torch import Tensor, nn

from perspicio._cache import cached_artifact
from perspicio._training import fit

SIZE = 32
SHAPES = ("circle", "square", "triangle")
COLOURS = {"red": (0.9, 0.15, 0.1), "green": (0.1, 0.8, 0.2), "blue": (0.15, 0.3, 0.95)}
#: the answer for a scene without a shape
NOTHING = "nothing"
WORDS = [
    "user",
    ":",
    "assistant",
    "what",
    "shape",
    "is",
    "there",
    "?",
    ".",
    *SHAPES,
    NOTHING,
    *COLOURS,
]
SPECIALS = ["<pad>", "<unk>", "<eos>"]
PATCH = 4


QUESTION = "what shape is there ?"


@dataclass
class ShapeScene:
    """A scene: its image, its shape's kind and colour, and the shape's pixel mask
    ``(32, 32)``."""

    image: Any
    shape: str
    colour: str
    mask: Tensor


def _shape_mask(kind: int, cy: int, cx: int, r: int) -> np.ndarray:
    yy, xx = np.mgrid[:SIZE, :SIZE]
    dy, dx = yy - cy, xx - cx
    if kind == 0:
        return dy**2 + dx**2 <= r**2
    if kind == 1:
        return (np.abs(dy) <= r - 1) & (np.abs(dx) <= r - 1)
    return (dy <= r - 1) & (dy >= -r) & (np.abs(dx) <= (dy + r) / 2)


def shape_scenes(n: int, seed: int = 0, empty: float = 0.0) -> list[ShapeScene]:
    """``n`` scenes: dark noise, four thin strokes of random colours (clutter) and one
    shape (radius 5 to 7) in red, green or blue, colours jittered; a share ``empty`` of them
    holds no shape (its shape is ``"nothing"``, its mask empty)."""
    from PIL import Image

    rng = np.random.default_rng(seed)
    scenes = []
    for _ in range(n):
        pixels = rng.uniform(0, 0.25, (SIZE, SIZE, 3))
        for _ in range(4):  # clutter: short thin strokes
            y, x = rng.integers(0, SIZE, 2)
            length = rng.integers(3, 7)
            stroke = rng.uniform(0.2, 0.9, 3)
            if rng.random() < 0.5:
                pixels[y, x : x + length] = stroke
            else:
                pixels[y : y + length, x] = stroke
        kind = int(rng.integers(len(SHAPES)))
        colour = str(rng.choice(list(COLOURS)))
        r = int(rng.integers(5, 8))
        cy, cx = rng.integers(r + 1, SIZE - r - 1, 2)
        mask = _shape_mask(kind, int(cy), int(cx), r)
        tint = np.clip(np.array(COLOURS[colour]) + rng.uniform(-0.1, 0.1, 3), 0, 1)
        name = SHAPES[kind]
        if rng.random() < empty:
            mask, name, colour = np.zeros_like(mask), NOTHING, ""
        pixels[mask] = tint
        image = Image.fromarray((pixels * 255).round().astype("uint8"))
        scenes.append(ShapeScene(image, name, colour, torch.from_numpy(mask)))
    return scenes


def processor():
    """A ``LlavaProcessor`` over a word-level tokenizer (:data:`WORDS`, no BOS, ``<image>``
    as an added special token) and a CLIP image processor at 32 x 32 (64 image tokens)."""
    from tokenizers import Tokenizer, models, pre_tokenizers
    from transformers import CLIPImageProcessor, LlavaProcessor, PreTrainedTokenizerFast

    vocab = {w: i for i, w in enumerate(SPECIALS + WORDS)}
    raw = Tokenizer(models.WordLevel(vocab=vocab, unk_token="<unk>"))
    raw.pre_tokenizer = pre_tokenizers.WhitespaceSplit()
    tok = PreTrainedTokenizerFast(
        tokenizer_object=raw, unk_token="<unk>", pad_token="<pad>", eos_token="<eos>"
    )
    tok.add_tokens(["<image>"], special_tokens=True)
    images = CLIPImageProcessor(
        size={"shortest_edge": SIZE}, crop_size={"height": SIZE, "width": SIZE}
    )
    return LlavaProcessor(
        image_processor=images,
        tokenizer=tok,
        patch_size=PATCH,
        vision_feature_select_strategy="default",
        image_token="<image>",
        num_additional_image_tokens=1,
    )


def prompt(question: str) -> str:
    """The chat prompt around a question; the image follows the question."""
    return f"user : {question} <image> assistant :"


@dataclass
class VLMOutput:
    """What :class:`ShapesVLM` returns: ``logits`` ``(B, L, vocabulary)``."""

    logits: Tensor


class ShapesVLM(nn.Module):
    """A vision-language model in LLaVA's layout: the image's features replace the
    prompt's ``<image>`` tokens and a causal transformer reads the sequence.

    ``forward(input_ids, pixel_values, attention_mask=None)`` returns :class:`VLMOutput`;
    :meth:`generate` continues greedily. Every row of a batch holds its image's 64
    ``<image>`` tokens (as the processor writes them).
    """

    def __init__(
        self,
        vocab_size: int,
        image_token_id: int,
        eos_token_id: int,
        dim: int = 64,
        layers: int = 2,
    ) -> None:
        super().__init__()
        self.image_token_id, self.eos_token_id = image_token_id, eos_token_id
        self.encoder = nn.Sequential(
            nn.Conv2d(3, 32, 3, padding=1),
            nn.ReLU(),
            nn.Conv2d(32, 64, 3, stride=2, padding=1),
            nn.ReLU(),
            nn.Conv2d(64, dim, 3, stride=2, padding=1),
            nn.ReLU(),
            nn.Conv2d(dim, dim, 1),
        )
        self.embed = nn.Embedding(vocab_size, dim)
        self.position = nn.Embedding(128, dim)
        block = nn.TransformerEncoderLayer(
            dim, 4, 2 * dim, dropout=0.0, batch_first=True, norm_first=True
        )
        self.blocks = nn.TransformerEncoder(block, layers, enable_nested_tensor=False)
        self.norm = nn.LayerNorm(dim)
        self.head = nn.Linear(dim, vocab_size)

    def get_input_embeddings(self) -> nn.Embedding:
        """The token embedding (as Hugging Face models name it; not the positions')."""
        return self.embed

    def forward(
        self,
        input_ids: Tensor,
        pixel_values: Tensor,
        attention_mask: Tensor | None = None,
        **_: Any,
    ) -> VLMOutput:
        x = self.embed(input_ids)
        features = self.encoder(pixel_values).flatten(2).transpose(1, 2)  # (B, 64, dim)
        slots = (input_ids == self.image_token_id)[..., None].expand_as(x)
        x = x.masked_scatter(slots, features.to(x.dtype))
        length = input_ids.shape[1]
        x = x + self.position(torch.arange(length, device=x.device))[None]
        causal = nn.Transformer.generate_square_subsequent_mask(length, device=x.device)
        return VLMOutput(self.head(self.norm(self.blocks(x, mask=causal, is_causal=True))))

    @torch.no_grad()
    def generate(
        self,
        input_ids: Tensor,
        pixel_values: Tensor,
        max_new_tokens: int = 25,
        attention_mask: Tensor | None = None,
        **_: Any,
    ) -> Tensor:
        """Greedy continuation of ``input_ids`` (the prompt followed by the new tokens),
        stopping after the end-of-sequence token."""
        ids = input_ids
        for _ in range(max_new_tokens):
            step = self(ids, pixel_values).logits[:, -1].argmax(-1, keepdim=True)
            ids = torch.cat([ids, step], 1)
            if bool((step == self.eos_token_id).all()):
                break
        return ids


def _build(proc: Any) -> ShapesVLM:
    tok = proc.tokenizer
    vocab = tok.get_vocab()
    return ShapesVLM(len(vocab), vocab["<image>"], tok.eos_token_id)


@cached_artifact(
    "shapes_vlm_v1",
    depends=(shape_scenes, _shape_mask, processor, prompt, ShapesVLM, _build, fit),
    n_scenes=6000,
    empty=0.1,
    data_seed=0,
    seed=0,
    steps=1000,
    batch_size=32,
    lr=3e-3,
)
def _trained_vlm(n_scenes, empty, data_seed, seed, steps, batch_size, lr) -> dict[str, Tensor]:
    proc = processor()
    torch.manual_seed(seed)
    model = _build(proc)
    scenes = shape_scenes(n_scenes, seed=data_seed, empty=empty)
    texts = [prompt(QUESTION) + f" {s.shape} <eos>" for s in scenes]
    enc = proc(text=texts, images=[s.image for s in scenes], return_tensors="pt")
    ids, pixels = enc["input_ids"], enc["pixel_values"]
    labels = torch.full_like(ids, -100)
    labels[:, -2:] = ids[:, -2:]  # the answer and the end of the sequence
    generator = torch.Generator().manual_seed(seed)
    optimizer = torch.optim.AdamW(model.parameters(), lr=lr, weight_decay=0.01)
    schedule = torch.optim.lr_scheduler.OneCycleLR(optimizer, lr, total_steps=steps)
    model.train()

    def loss(idx: Tensor) -> Tensor:
        logits = model(input_ids=ids[idx], pixel_values=pixels[idx]).logits[:, :-1]
        return nn.functional.cross_entropy(logits.transpose(1, 2), labels[idx, 1:])

    batches = (torch.randint(len(ids), (batch_size,), generator=generator) for _ in range(steps))
    fit(loss, optimizer, batches, clip=(model.parameters(), 1.0), schedule=schedule)
    return model.state_dict()


def shapes_vlm(retrain: bool = False) -> tuple[Any, Any]:
    """``(model, processor)``: the shapes VLM, trained on first use and cached; its
    tokenizer is ``processor.tokenizer``."""
    proc = processor()
    model = _build(proc)
    model.load_state_dict(_trained_vlm(retrain=retrain))
    return model.eval(), proc


def processor_fn(proc: Any, question: str = QUESTION):
    """``image -> model inputs`` for a question (an ``ImageMaskInput``'s ``processor_fn``)."""
    text = prompt(question)
    return lambda image: proc(text=text, images=image, return_tensors="pt")
