"""A small causal language model whose answers are decided by a known word of the prompt.

:func:`capital_prompts` writes prompts such as ``"i flew to peru . it rained in oslo . the
capital of japan is"`` whose continuation is ``"tokyo ."``: distractor sentences mention
other countries and cities, and only the country after ``capital of`` decides the answer.
:func:`capital_cities_lm` is a 2-layer GPT-2 built from a config (no download) with a
word-level Hugging Face tokenizer made on the fly, trained on such text in about a minute on
one CPU thread and cached under ``PERSPICIO_CACHE``.
"""

from __future__ import annotations

import random
from dataclasses import dataclass
from typing import Any

import torch
from torch import Tensor

from perspicio._cache import cached_artifact
from perspicio._training import fit

CAPITALS = {
    "france": "paris",
    "spain": "madrid",
    "italy": "rome",
    "germany": "berlin",
    "japan": "tokyo",
    "egypt": "cairo",
    "peru": "lima",
    "kenya": "nairobi",
    "norway": "oslo",
    "greece": "athens",
    "china": "beijing",
    "india": "delhi",
    "cuba": "havana",
    "chile": "santiago",
    "poland": "warsaw",
    "russia": "moscow",
}
ANIMALS = ["cat", "dog", "bird", "horse", "fox"]
FOODS = ["rice", "bread", "soup", "fish", "cake"]
DISTRACTORS = [
    "i flew to {country} .",
    "{country} is big .",
    "my friend likes {country} .",
    "it rained in {city} .",
    "we ate {food} .",
    "the {animal} sat on the mat .",
    "{city} has a river .",
    "a {animal} ran home .",
]
SPECIALS = ["<pad>", "<unk>", "<bos>"]


@dataclass
class CapitalPrompt:
    """A prompt, its answer and the words that decide it."""

    distractors: list[str]
    country: str

    @property
    def text(self) -> str:
        return " ".join(self.distractors + [f"the capital of {self.country} is"])

    @property
    def answer(self) -> str:
        return CAPITALS[self.country]


def vocabulary() -> list[str]:
    words = set("the capital of is".split())
    for template in DISTRACTORS:
        words |= {w for w in template.split() if not w.startswith("{")}
    words |= set(CAPITALS) | set(CAPITALS.values()) | set(ANIMALS) | set(FOODS)
    return SPECIALS + sorted(words)


def _distractor(rng: random.Random) -> str:
    return rng.choice(DISTRACTORS).format(
        country=rng.choice(list(CAPITALS)),
        city=rng.choice(list(CAPITALS.values())),
        food=rng.choice(FOODS),
        animal=rng.choice(ANIMALS),
    )


def capital_prompts(
    n: int, seed: int = 0, distractors: tuple[int, int] = (1, 3)
) -> list[CapitalPrompt]:
    """``n`` prompts with ``distractors[0]..distractors[1]`` distractor sentences each."""
    rng = random.Random(seed)
    return [
        CapitalPrompt(
            [_distractor(rng) for _ in range(rng.randint(*distractors))], rng.choice(list(CAPITALS))
        )
        for _ in range(n)
    ]


def word_tokenizer():
    """A word-level Hugging Face fast tokenizer over :func:`vocabulary` that starts every
    sequence with ``<bos>``."""
    from tokenizers import Tokenizer, models, pre_tokenizers, processors
    from transformers import PreTrainedTokenizerFast

    vocab = {w: i for i, w in enumerate(vocabulary())}
    tok = Tokenizer(models.WordLevel(vocab=vocab, unk_token="<unk>"))
    tok.pre_tokenizer = pre_tokenizers.WhitespaceSplit()
    tok.post_processor = processors.TemplateProcessing(
        single="<bos> $A", special_tokens=[("<bos>", vocab["<bos>"])]
    )
    return PreTrainedTokenizerFast(
        tokenizer_object=tok, unk_token="<unk>", pad_token="<pad>", bos_token="<bos>"
    )


def lm_config(vocab_size: int):
    from transformers import GPT2Config

    return GPT2Config(
        vocab_size=vocab_size,
        n_positions=96,
        n_embd=64,
        n_layer=2,
        n_head=4,
        bos_token_id=2,
        eos_token_id=2,
        pad_token_id=0,
    )


def _training_text(rng: random.Random) -> str:
    parts = [_distractor(rng) for _ in range(rng.randint(0, 3))]
    for _ in range(rng.randint(1, 2)):
        country = rng.choice(list(CAPITALS))
        parts.append(f"the capital of {country} is {CAPITALS[country]} .")
        parts += [_distractor(rng) for _ in range(rng.randint(0, 1))]
    return " ".join(parts)


@cached_artifact(
    "capital_cities_gpt2_v1",
    depends=(vocabulary, word_tokenizer, lm_config, _training_text, _distractor, fit),
    n_texts=12000,
    data_seed=0,
    seed=0,
    steps=1500,
    batch_size=48,
    lr=3e-3,
)
def _trained_lm(n_texts, data_seed, seed, steps, batch_size, lr) -> dict[str, Tensor]:
    from transformers import GPT2LMHeadModel

    tokenizer = word_tokenizer()
    torch.manual_seed(seed)
    model = GPT2LMHeadModel(lm_config(len(tokenizer)))
    rng = random.Random(data_seed)
    enc = tokenizer(
        [_training_text(rng) for _ in range(n_texts)], padding=True, return_tensors="pt"
    )
    ids, mask = enc["input_ids"], enc["attention_mask"]
    labels = ids.masked_fill(mask == 0, -100)
    optimizer = torch.optim.AdamW(model.parameters(), lr=lr, weight_decay=0.01)
    schedule = torch.optim.lr_scheduler.OneCycleLR(optimizer, lr, total_steps=steps)
    generator = torch.Generator().manual_seed(seed)
    model.train()

    def loss(idx: Tensor) -> Tensor:
        width = int(mask[idx].sum(1).max())
        return model(
            input_ids=ids[idx, :width], attention_mask=mask[idx, :width], labels=labels[idx, :width]
        ).loss

    batches = (torch.randint(len(ids), (batch_size,), generator=generator) for _ in range(steps))
    fit(loss, optimizer, batches, clip=(model.parameters(), 1.0), schedule=schedule)
    return model.state_dict()


def capital_cities_lm(retrain: bool = False) -> tuple[Any, Any]:
    """``(model, tokenizer)``: the capital-cities GPT-2, trained on first use and cached."""
    from transformers import GPT2LMHeadModel

    tokenizer = word_tokenizer()
    model = GPT2LMHeadModel(lm_config(len(tokenizer)))
    model.load_state_dict(_trained_lm(retrain=retrain))
    return model.eval(), tokenizer
