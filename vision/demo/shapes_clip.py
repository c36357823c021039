"""A CLIP-style dual encoder of the shapes scenes: which pixels match "a circle"?

Each training scene holds two different shapes (their masks known). An image tower (a small
CNN) and a text tower (word embeddings, averaged) are trained together, SigLIP-style: every
image against the caption of every shape ("a circle", "a square"...), a sigmoid of their
scaled cosine similarity saying whether the shape is in the scene. The model speaks Hugging
Face's dual-encoder API (``get_image_features``, ``get_text_features``, ``logit_scale``,
``logit_bias``), and :class:`ShapesTokenizer` a tokenizer's, so ``vision.explain(model,
image, target="a circle", processor=ShapesTokenizer())`` explains it as it explains CLIP.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import torch
from torch import Tensor, nn

from perspicio._cache import cached_artifact
from perspicio._training import adam_epochs

from .shapes import SHAPES, _shape_mask, add_clutter
from .shapes_cnn import ShapesCNN, _trained_shapes_cnn, shapes_model

#: the tokenizer's words (ids in this order; 0 pads)
VOCABULARY = ("<pad>", "<unk>", "a", "an", "and", "the", "with", "of", *SHAPES)


class ShapesTokenizer:
    """Words to ids, as a Hugging Face tokenizer is called: ``tokenizer(texts,
    padding=True, return_tensors="pt")`` gives ``input_ids`` and ``attention_mask``.

    Examples
    --------
    >>> ShapesTokenizer()(["a circle", "the cross"], padding=True)["input_ids"].tolist()
    [[2, 8], [5, 11]]
    """

    max_length = 8

    def __call__(self, texts: Any, padding: Any = True, return_tensors: str = "pt", **_: Any):
        texts = [texts] if isinstance(texts, str) else list(texts)
        index = {w: i for i, w in enumerate(VOCABULARY)}
        ids = [[index.get(w, 1) for w in t.lower().replace(",", " ").split()] or [1] for t in texts]
        width = self.max_length if padding == "max_length" else max(len(i) for i in ids)
        ids = [i[:width] + [0] * (width - len(i[:width])) for i in ids]
        input_ids = torch.tensor(ids)
        return {"input_ids": input_ids, "attention_mask": (input_ids != 0).long()}


class ShapesCLIP(nn.Module):
    """The image tower (the shapes CNN's four convolutions, global average, a projection)
    and the text tower (word embeddings averaged over the caption, a projection) into one
    32-d space."""

    def __init__(self, dim: int = 32) -> None:
        super().__init__()
        self.vision = ShapesCNN().features  # the shapes classifier's convolutions
        self.pool = nn.AdaptiveAvgPool2d(1)
        self.visual_projection = nn.Linear(32, dim)
        self.embedding = nn.Embedding(len(VOCABULARY), dim, padding_idx=0)
        self.text_projection = nn.Linear(dim, dim)
        self.logit_scale = nn.Parameter(torch.tensor(np.log(10.0), dtype=torch.float32))
        self.logit_bias = nn.Parameter(torch.tensor(-5.0))

    def get_image_features(self, pixel_values: Tensor) -> Tensor:
        return self.visual_projection(self.pool(self.vision(pixel_values)).flatten(1))

    def get_text_features(self, input_ids: Tensor, attention_mask: Tensor | None = None) -> Tensor:
        mask = (input_ids != 0).float() if attention_mask is None else attention_mask.float()
        words = self.embedding(input_ids) * mask.unsqueeze(-1)
        return self.text_projection(words.sum(1) / mask.sum(1, keepdim=True).clamp(min=1))

    def forward(
        self, pixel_values: Tensor, input_ids: Tensor, attention_mask: Tensor | None = None
    ):
        """``(images, captions)`` logits: the scaled cosine similarity plus the bias."""
        image = self.get_image_features(pixel_values)
        text = self.get_text_features(input_ids, attention_mask)
        image = image / image.norm(dim=-1, keepdim=True)
        text = text / text.norm(dim=-1, keepdim=True)
        return self.logit_scale.exp() * image @ text.T + self.logit_bias


def shape_pairs_dataset(n: int, size: int = 32, seed: int = 0) -> tuple[Tensor, Tensor, Tensor]:
    """``n`` scenes ``(n, 3, size, size)`` in [0, 1] of two different shapes each (not
    overlapping), their shapes ``(n, 2)`` and masks ``(n, 2, size, size)``; dark noise and
    thin strokes around them, as in :func:`~perspicio.vision.demo.shapes_dataset`."""
    rng = np.random.default_rng(seed)
    images = rng.uniform(0, 0.25, (n, size, size, 3))
    pairs = np.stack([rng.choice(len(SHAPES), 2, replace=False) for _ in range(n)])
    masks = np.zeros((n, 2, size, size), dtype=bool)
    for i in range(n):
        add_clutter(images[i], rng)
        taken = np.zeros((size, size), dtype=bool)
        for k in range(2):
            for _ in range(100):  # a place that keeps a gap to the other shape
                r = int(rng.integers(4, 7))
                cy, cx = rng.integers(r + 1, size - r - 1, 2)
                mask = _shape_mask(int(pairs[i, k]), size, cy, cx, r)
                grown = np.zeros_like(mask)
                grown[max(cy - r - 3, 0) : cy + r + 4, max(cx - r - 3, 0) : cx + r + 4] = True
                if not (grown & taken).any():
                    break
            masks[i, k] = mask
            taken |= mask
            images[i][mask] = rng.uniform(0.6, 1.0, 3)
    x = torch.tensor(images, dtype=torch.float32).permute(0, 3, 1, 2).contiguous()
    return x, torch.tensor(pairs), torch.tensor(masks)


#: the captions the demo was trained with, one per shape
CAPTIONS = tuple(f"a {shape}" for shape in SHAPES)


@cached_artifact(
    "shapes_clip_v1",
    depends=(
        ShapesCLIP,
        ShapesTokenizer,
        shape_pairs_dataset,
        _shape_mask,
        add_clutter,
        adam_epochs,
        _trained_shapes_cnn,
    ),
    n_images=3000,
    data_seed=3,
    seed=0,
    epochs=4,
    batch_size=32,
    lr=1e-3,
)
def _trained_shapes_clip(n_images, data_seed, seed, epochs, batch_size, lr) -> dict[str, Any]:
    x, pairs, _ = shape_pairs_dataset(n_images, seed=data_seed)
    present = torch.zeros(n_images, len(SHAPES))
    present.scatter_(1, pairs, 1.0)
    tokens = ShapesTokenizer()(list(CAPTIONS), padding=True)
    torch.manual_seed(seed)
    net = ShapesCLIP()
    # the image tower starts from the shapes classifier's convolutions (trained on one-shape
    # scenes): from scratch, the two-shape task sits at chance for several epochs first
    net.vision.load_state_dict(shapes_model().features.state_dict())

    def loss(idx: Tensor) -> Tensor:
        logits = net(x[idx], tokens["input_ids"], tokens["attention_mask"])
        return nn.functional.binary_cross_entropy_with_logits(logits, present[idx])

    adam_epochs(net, n_images, loss, epochs=epochs, batch_size=batch_size, lr=lr, seed=seed)
    return {"state": {k: v.detach().clone() for k, v in net.state_dict().items()}}


def shapes_clip(retrain: bool = False) -> ShapesCLIP:
    """The shapes dual encoder, trained on 3000 two-shape scenes on first use (its image
    tower started from :func:`shapes_model`'s convolutions; about a minute on two CPU cores
    with that model's own half minute) and cached in :func:`perspicio._cache.cache_dir`."""
    net = ShapesCLIP()
    net.load_state_dict(_trained_shapes_clip(retrain=retrain)["state"])
    return net.eval()


__all__ = [
    "CAPTIONS",
    "VOCABULARY",
    "ShapesCLIP",
    "ShapesTokenizer",
    "shape_pairs_dataset",
    "shapes_clip",
]
