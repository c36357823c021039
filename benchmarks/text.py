"""Text case: LayerIntegratedGradients on the MiniLM sentiment demo, 1 and 4 reviews of 64
tokens."""

from __future__ import annotations

import torch

from perspicio import core as P

from .common import Case, auto_rows, max_abs_diff

#: reviews per call of the two cases
ROWS = (1, 4)


def cases(device: torch.device) -> list[Case]:
    import captum.attr as C

    from perspicio.text import TextForward, embedding_layer
    from perspicio.text.demo import minilm_sentiment, movie_review_snippets

    model, tokenizer, _ = minilm_sentiment()
    model = model.to(device)
    texts, _ = movie_review_snippets()
    enc = tokenizer(
        texts[:16], padding="max_length", truncation=True, max_length=64, return_tensors="pt"
    )
    ids, mask = enc["input_ids"].to(device), enc["attention_mask"].to(device)
    special = torch.isin(ids, torch.tensor(tokenizer.all_special_ids, device=device))
    pad = torch.where(special, ids, torch.full_like(ids, tokenizer.pad_token_id))
    forward = TextForward(model)
    layer = embedding_layer(model)
    ours, theirs = (
        P.LayerIntegratedGradients(forward, layer),
        C.LayerIntegratedGradients(forward, layer),
    )
    out = []
    for rows in ROWS:
        chunk = auto_rows(forward, ids[:rows], (mask[:rows],))
        out.append(
            Case(
                f"LayerIntegratedGradients MiniLM {rows}x64 tokens n_steps=50",
                lambda r=rows: ours.attribute(
                    ids[:r], pad[:r], target=1, additional_forward_args=(mask[:r],)
                ),
                lambda r=rows: theirs.attribute(
                    ids[:r], pad[:r], target=1, additional_forward_args=(mask[:r],)
                ),
                None,
                max_abs_diff,
                theirs_best=lambda r=rows, c=chunk: theirs.attribute(
                    ids[:r],
                    pad[:r],
                    target=1,
                    additional_forward_args=(mask[:r],),
                    internal_batch_size=c,
                ),
                settings='perspicio internal_batch_size="auto" (its default), Captum None '
                "(its default: every step in one batch); n_steps 50 in both",
                best=f"Captum internal_batch_size={chunk} (perspicio's automatic chunk here)",
            )
        )
    return out
