"""A tokenizer and a language model small enough to read, for examples and tests.

:class:`WordTokenizer` splits on whitespace over a fixed vocabulary. :class:`CopyAfterSay` is
a causal language model written by hand: at every position it predicts the word that
followed the most recent ``say`` (and ``.`` when there is none), so the prompt word that
determines each generated word is known exactly.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import torch
from torch import Tensor, nn


class WordTokenizer:
    """Whitespace tokenizer over ``vocab`` (unknown words map to ``unk``).

    ``encode`` prepends ``bos`` when given (as sub-word tokenizers add special tokens).
    """

    def __init__(
        self, vocab: Sequence[str], bos: str | None = None, unk: str = "<unk>", pad: str = "<pad>"
    ) -> None:
        words = list(dict.fromkeys([pad, unk] + ([bos] if bos else []) + list(vocab)))
        self.vocab = words
        self.ids = {w: i for i, w in enumerate(words)}
        self.bos, self.unk, self.pad = bos, unk, pad
        self.pad_token_id = self.ids[pad]
        self.eos_token_id: int | None = None
        self.vocab_size = len(words)

    def __len__(self) -> int:
        return self.vocab_size

    def convert_tokens_to_ids(self, tokens: str | Sequence[str]) -> Any:
        if isinstance(tokens, str):
            return self.ids.get(tokens, self.ids[self.unk])
        return [self.ids.get(t, self.ids[self.unk]) for t in tokens]

    def convert_ids_to_tokens(self, ids: int | Sequence[int]) -> Any:
        if isinstance(ids, int):
            return self.vocab[ids]
        return [self.vocab[int(i)] for i in ids]

    def encode(
        self, text: str, add_special_tokens: bool = True, return_tensors: str | None = None
    ) -> Any:
        ids = self.convert_tokens_to_ids(text.split())
        if add_special_tokens and self.bos:
            ids = [self.ids[self.bos]] + ids
        return torch.tensor([ids]) if return_tensors == "pt" else ids

    def decode(self, ids: Any, skip_special_tokens: bool = False) -> str:
        words = self.convert_ids_to_tokens([int(i) for i in torch.as_tensor(ids).reshape(-1)])
        if skip_special_tokens:
            words = [w for w in words if w not in (self.bos, self.pad)]
        return " ".join(words)

    def __call__(self, text: str, add_special_tokens: bool = True, **_: Any) -> dict:
        return {"input_ids": self.encode(text, add_special_tokens)}


class CopyAfterSay(nn.Module):
    """Predicts, at each position, the word after the latest ``say`` so far (else ``.``).

    Words are one-hot vectors (``embed``, an identity embedding), so gradient methods see the
    copied word's vector: the logits at a position are ``confidence`` times the vector of
    the word being copied. Causal by construction.
    """

    def __init__(self, tokenizer: WordTokenizer, confidence: float = 6.0) -> None:
        super().__init__()
        self.vocab_size = tokenizer.vocab_size
        self.say = tokenizer.convert_tokens_to_ids("say")
        self.stop = tokenizer.convert_tokens_to_ids(".")
        self.confidence = confidence
        self.embed = nn.Embedding(self.vocab_size, self.vocab_size)
        with torch.no_grad():
            self.embed.weight.copy_(torch.eye(self.vocab_size))

    def forward(self, input_ids: Tensor, attention_mask: Tensor | None = None) -> Tensor:
        vectors = self.embed(input_ids)
        n, length = input_ids.shape
        source = torch.full((n, length), -1, dtype=torch.long, device=input_ids.device)
        current = torch.full((n,), -1, dtype=torch.long, device=input_ids.device)
        after_say = torch.zeros(n, dtype=torch.bool, device=input_ids.device)
        for p in range(length):  # the position of the word being copied, -1 for none
            current = torch.where(after_say, torch.full_like(current, p), current)
            after_say = input_ids[:, p] == self.say
            source[:, p] = current
        stop = torch.zeros(self.vocab_size, device=vectors.device)
        stop[self.stop] = 1.0
        picked = vectors.gather(1, source.clamp(min=0)[..., None].expand(-1, -1, vectors.shape[-1]))
        picked = torch.where((source >= 0)[..., None], picked, stop)
        return self.confidence * picked

    @torch.no_grad()
    def generate(self, input_ids: Tensor, max_new_tokens: int = 5, **_: Any) -> Tensor:
        """Greedy continuation."""
        out = input_ids
        for _ in range(max_new_tokens):
            nxt = self(out)[:, -1].argmax(-1, keepdim=True)
            out = torch.cat([out, nxt], 1)
        return out


def toy_language_model() -> tuple[CopyAfterSay, WordTokenizer]:
    """A :class:`CopyAfterSay` model and its tokenizer over a few colour words."""
    vocab = ["say", "then", "and", ".", "blue", "red", "green", "yellow", "the", "word"]
    tokenizer = WordTokenizer(vocab)
    return CopyAfterSay(tokenizer).eval(), tokenizer
