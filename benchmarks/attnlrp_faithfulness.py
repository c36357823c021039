"""How faithful is AttnLRP on the demo transformers? Deletion and insertion curves of tokens
ranked by AttnLRP, Integrated Gradients, input x gradient and at random.

python -m benchmarks.attnlrp_faithfulness [--n 200] [--threads 2]

Models and held-out inputs (none seen in training):

* the demo sentiment BERT (``perspicio.text.demo.tiny_bert``), ``--n`` sentences of
  ``sentiment_sentences(n, seed=2024)`` (trained on seed 1); the predicted class explained;
* the demo GPT-2 (``perspicio.text.demo_lm.capital_cities_lm``), ``--n`` prompts of
  ``capital_prompts(n, seed=2024)`` (trained on seed 0); the answer token explained.

Each method explains the target logit at the word-embedding layer (a token's relevance is
the sum over its embedding): ``LayerLRP`` (AttnLRP), ``LayerIntegratedGradients`` (50 steps,
the pad token as baseline, special tokens kept) and ``LayerGradientXActivation`` (input x
gradient), plus a random ranking. Tokens are ranked most relevant first (special tokens and
GPT-2's ``<bos>`` stay); *deletion* removes them in that order (their attention mask set to 0,
their id to the pad token), *insertion* starts from all removed and puts them back. The curve
is the probability of the explained class (token) after each step; its area (trapezoids over
the fraction of tokens) is the score: low for deletion, high for insertion. Printed: the mean
area over the inputs with a 95% confidence interval (1.96 standard errors), and each method's
paired difference to AttnLRP with its interval.
"""

from __future__ import annotations

import argparse
import math

import torch
from torch import nn

from perspicio.core import LayerGradientXActivation, LayerIntegratedGradients, LayerLRP

METHODS = ("AttnLRP", "Integrated Gradients", "input x gradient", "random")


class Logits(nn.Module):
    """Token ids (and an attention mask) to logits."""

    def __init__(self, model: nn.Module) -> None:
        super().__init__()
        self.model = model

    def forward(self, ids: torch.Tensor, mask: torch.Tensor | None = None) -> torch.Tensor:
        return self.model(input_ids=ids, attention_mask=mask).logits


def relevances(model, ids, target, keep, pad, generator) -> dict[str, torch.Tensor]:
    """Each method's per-token relevance of one input (``ids``: ``(1, T)``)."""
    wrapped, layer = Logits(model), model.get_input_embeddings()
    baseline = torch.where(keep, ids, torch.full_like(ids, pad))
    found = {
        "AttnLRP": LayerLRP(wrapped, layer).attribute(ids, target=target),
        "Integrated Gradients": LayerIntegratedGradients(wrapped, layer).attribute(
            ids, baselines=baseline, target=target, n_steps=50
        ),
        "input x gradient": LayerGradientXActivation(wrapped, layer).attribute(ids, target=target),
    }
    found = {k: v.sum(-1)[0].detach() for k, v in found.items()}
    found["random"] = torch.rand(ids.shape[1], generator=generator, dtype=torch.float64)
    return found


def curves(model, ids, target, keep, pad, score) -> tuple[float, float]:
    """Deletion and insertion areas of one ranking ``score`` (``(T,)``)."""
    movable = (~keep[0]).nonzero().flatten()
    order = movable[score[movable].argsort(descending=True)]
    n = len(order)
    removed = torch.zeros(n + 1, ids.shape[1], dtype=torch.bool)
    for k in range(1, n + 1):
        removed[k, order[:k]] = True
    inserted = removed[n : n + 1] & ~removed  # row k: all removed but the first k put back
    areas = []
    for gone in (removed, inserted):
        batch = torch.where(gone, torch.full_like(gone, pad, dtype=ids.dtype), ids.expand_as(gone))
        with torch.no_grad():
            logits = Logits(model)(batch, (~gone).long())
        position = target[0] if isinstance(target, tuple) else None
        logits = logits[:, position] if position is not None else logits
        token = target[1] if isinstance(target, tuple) else target
        probs = logits.softmax(-1)[:, token].double()
        areas.append(float(torch.trapezoid(probs, dx=1.0 / max(n, 1))))
    return areas[0], areas[1]


def sentiment(n: int):
    from perspicio.text.demo import sentiment_sentences, tiny_bert

    model, tokenizer = tiny_bert()
    texts, _, _ = sentiment_sentences(n, seed=2024)
    for text in texts:
        ids = torch.tensor([tokenizer.encode(text)])
        with torch.no_grad():
            target = int(Logits(model)(ids)[0].argmax())
        keep = (ids == tokenizer.cls_token_id) | (ids == tokenizer.sep_token_id)
        yield model, ids, target, keep, tokenizer.pad_token_id


def capitals(n: int):
    from perspicio.text.demo_lm import capital_cities_lm, capital_prompts

    model, tokenizer = capital_cities_lm()
    for prompt in capital_prompts(n, seed=2024):
        ids = torch.tensor([tokenizer.encode(prompt.text)])
        answer = tokenizer.encode(prompt.answer, add_special_tokens=False)[0]
        keep = ids == tokenizer.bos_token_id
        yield model, ids, (ids.shape[1] - 1, answer), keep, tokenizer.pad_token_id


def summary(values: list[float]) -> tuple[float, float]:
    t = torch.tensor(values, dtype=torch.float64)
    return float(t.mean()), 1.96 * float(t.std()) / math.sqrt(len(t))


def study(name: str, inputs) -> None:
    generator = torch.Generator().manual_seed(0)
    areas: dict[str, dict[str, list[float]]] = {m: {"del": [], "ins": []} for m in METHODS}
    for model, ids, target, keep, pad in inputs:
        for method, score in relevances(model, ids, target, keep, pad, generator).items():
            deletion, insertion = curves(model, ids, target, keep, pad, score)
            areas[method]["del"].append(deletion)
            areas[method]["ins"].append(insertion)
    n = len(areas["AttnLRP"]["del"])
    print(f"\n{name}: {n} held-out inputs; area under the curve, mean ± 95% CI")
    print(
        f"{'method':<22} {'deletion (low)':>18} {'insertion (high)':>18} "
        f"{'del - AttnLRP':>18} {'ins - AttnLRP':>18}"
    )
    for method in METHODS:
        row = [f"{method:<22}"]
        for kind in ("del", "ins"):
            mean, ci = summary(areas[method][kind])
            row.append(f"{mean:>10.3f} ± {ci:.3f}")
        for kind in ("del", "ins"):
            diff = [a - b for a, b in zip(areas[method][kind], areas["AttnLRP"][kind])]
            mean, ci = summary(diff)
            row.append(f"{mean:>+10.3f} ± {ci:.3f}" if method != "AttnLRP" else f"{'':>18}")
        print(" ".join(row))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n", type=int, default=200)
    parser.add_argument("--threads", type=int, default=2)
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    torch.manual_seed(0)
    study("sentiment BERT (demo)", sentiment(args.n))
    study("capital-cities GPT-2 (demo)", capitals(args.n))


if __name__ == "__main__":
    main()
