"""Tokenizing for explanation: token ids, masks, offsets, words, and baseline ids."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import torch
from torch import Tensor

BASELINE_TOKENS = {"pad": "pad_token_id", "mask": "mask_token_id", "unk": "unk_token_id"}


@dataclass
class Encoded:
    """A padded batch: ids, masks, offsets into each text, word index of each token."""

    texts: list[str]
    input_ids: Tensor
    attention_mask: Tensor
    token_type_ids: Tensor | None
    offsets: list[list[tuple[int, int]]]
    word_ids: list[list[int | None]]
    special: Tensor  # True where a token is special ([CLS], [SEP], <s>, padding...)
    tokens: list[list[str]]


def encode(
    tokenizer: Any, texts: list[str], max_length: int | None, model_max: int | None
) -> Encoded:
    """Tokenize ``texts`` with offsets; clear errors for empty or too long texts."""
    for i, t in enumerate(texts):
        if not isinstance(t, str):
            raise TypeError(
                f"`text` must be a string or a list of strings; item {i} is {type(t).__name__}"
            )
        if not t.strip():
            raise ValueError(f"`text` item {i} is empty; there is nothing to explain")
    if not getattr(tokenizer, "is_fast", False):
        raise TypeError(
            "perspicio.text needs a fast tokenizer (word ids and offsets); "
            "load it with use_fast=True"
        )
    kwargs: dict[str, Any] = {
        "padding": True,
        "return_offsets_mapping": True,
        "return_tensors": "pt",
        "return_special_tokens_mask": True,
    }
    if max_length is not None:
        kwargs.update(truncation=True, max_length=max_length)
    enc = tokenizer(texts, **kwargs)
    limit = max_length or model_max
    if limit is not None and enc["input_ids"].shape[1] > limit:
        raise ValueError(
            f"a text has {enc['input_ids'].shape[1]} tokens but the model takes at most {limit}; "
            "pass `max_length` to truncate"
        )
    ids = enc["input_ids"]
    mask = enc.get("attention_mask", torch.ones_like(ids))
    special = enc["special_tokens_mask"].bool() | (mask == 0)
    word_ids = [enc.word_ids(i) for i in range(len(texts))]
    return Encoded(
        texts=list(texts),
        input_ids=ids,
        attention_mask=mask,
        token_type_ids=enc.get("token_type_ids"),
        offsets=[[tuple(o) for o in row] for row in enc["offset_mapping"].tolist()],
        word_ids=word_ids,
        special=special,
        tokens=[tokenizer.convert_ids_to_tokens(row) for row in ids.tolist()],
    )


def baseline_ids(tokenizer: Any, enc: Encoded, baseline: Any) -> Tensor:
    """Every ordinary token replaced by the PAD / MASK / UNK id; special tokens kept.

    ``baseline`` may also be a token-id tensor shaped like the input ids.
    """
    if isinstance(baseline, Tensor):
        if baseline.shape != enc.input_ids.shape:
            raise ValueError(
                f"`baseline` ids have shape {tuple(baseline.shape)}, "
                f"expected {tuple(enc.input_ids.shape)}"
            )
        return baseline.to(enc.input_ids.device)
    if baseline not in BASELINE_TOKENS:
        raise ValueError(
            f"`baseline` must be one of {sorted(BASELINE_TOKENS)} or a tensor of ids, "
            f"got {baseline!r}"
        )
    token_id = getattr(tokenizer, BASELINE_TOKENS[baseline], None)
    if token_id is None:
        raise ValueError(f"the tokenizer has no {baseline} token; choose another `baseline`")
    return torch.where(enc.special, enc.input_ids, torch.full_like(enc.input_ids, token_id))


def word_groups(enc: Encoded) -> Tensor:
    """Feature ids ``(N, L)``: the tokens of a word share an id; special tokens and padding
    get their own ids (they are kept out of the perturbations by their baseline)."""
    n, length = enc.input_ids.shape
    groups = torch.zeros(n, length, dtype=torch.long)
    for i, words in enumerate(enc.word_ids):
        next_free = max((w for w in words if w is not None), default=-1) + 1
        for j, w in enumerate(words):
            if w is None or enc.special[i, j]:
                groups[i, j] = next_free
                next_free += 1
            else:
                groups[i, j] = w
    return groups


def words_of(enc: Encoded, i: int) -> list[tuple[int, str, tuple[int, int]]]:
    """``(word index, word text, (start, end))`` of text ``i``, from the token offsets."""
    spans: dict[int, list[int]] = {}
    for j, w in enumerate(enc.word_ids[i]):
        if w is None or enc.special[i, j]:
            continue
        start, end = enc.offsets[i][j]
        span = spans.setdefault(w, [start, end])
        span[0], span[1] = min(span[0], start), max(span[1], end)
    text = enc.texts[i]
    return [(w, text[s:e], (s, e)) for w, (s, e) in sorted(spans.items())]
