"""``text.explain(model, tokenizer, text)``: which words made the model say that?"""

from __future__ import annotations

from typing import Any

import torch
from torch import nn

from perspicio.core.explanation import fingerprint_of
from perspicio.core.frontend import (
    Facts,
    attribute_with_delta,
    check_positive_int,
    check_seed,
    label_of,
    make_generator,
    model_device,
    prediction,
    preserved_state,
    resolve_class_targets,
)
from perspicio.core.registry import MethodNames, MethodSpec, prepare

from .adapters import TextForward, check_vocabulary, embedding_layer, labels_of, max_positions
from .explanation import TextExplanation
from .tokens import baseline_ids, encode, word_groups, words_of


#: The methods offered for texts (a live view of the registry): the layer methods that
#: explain at the token-embedding layer (``token_layer``), and the perturbation methods that
#: take word (token) groups, whose tokens are replaced by the baseline token (one call per
#: text, every group affordable). How each is called is its registry spec's.
def _explains_texts(spec: MethodSpec) -> bool:
    if spec.token_layer:
        return True
    affordable = spec.min_batch == 1 and spec.max_features is None
    return spec.black_box and spec.takes_groups and affordable


METHODS = MethodNames(_explains_texts)


def explain(
    model: nn.Module,
    tokenizer: Any,
    text: str | list[str],
    *,
    target: Any = None,
    method: str = "layer_integrated_gradients",
    baseline: Any = "pad",
    granularity: str = "word",
    n_steps: int = 50,
    max_length: int | None = None,
    seed: int | None = None,
    **method_kwargs: Any,
) -> TextExplanation | list[TextExplanation]:
    """Explain a text classifier's decision in terms of the words (or tokens) of the text.

    Parameters
    ----------
    model : torch.nn.Module
        A Hugging Face sequence-classification model (BERT, DistilBERT, RoBERTa, ELECTRA,
        GPT-2...) or a plain PyTorch model taking token ids and returning logits.
    tokenizer : a fast Hugging Face tokenizer
    text : str or list of str
        A list is explained as one padded batch; the attention mask is passed through.
    target : None, int, label name, or a list with one per text
        None explains the predicted label; names come from ``model.config.id2label``.
    method : str
        A name from :data:`METHODS` (the registry's methods for texts: layer methods at the
        embedding layer, and perturbation methods that replace each word's tokens by the
        baseline token); ``layer_integrated_gradients`` by default.
    baseline : "pad", "mask", "unk" or a tensor of token ids
        Special tokens ([CLS], [SEP], <s>, </s>) keep their ids.
    granularity : "word" or "token"
        Words sum their sub-word tokens; special tokens are not shown.
    n_steps, max_length, seed
        Integration steps, truncation length, seed of the sampling methods.

    Returns
    -------
    TextExplanation, or a list of them for a list of texts.
    """
    texts = _check_arguments(model, tokenizer, text, method, granularity, n_steps, max_length, seed)
    check_vocabulary(tokenizer, model)
    model_max = max_positions(model)
    enc = encode(tokenizer, texts, max_length, model_max)
    device = model_device(model)
    ids, mask = enc.input_ids.to(device), enc.attention_mask.to(device)
    types = enc.token_type_ids.to(device) if enc.token_type_ids is not None else None
    forward = TextForward(model)
    args = (mask, types)
    id2label = labels_of(model)
    with preserved_state(model):
        model.eval()
        with torch.no_grad():
            probs = forward(ids, mask, types).float().softmax(1)
        targets = resolve_class_targets(target, probs, id2label, rows="texts")
        base = baseline_ids(tokenizer, enc, baseline).to(device)
        scores, delta, grouped = _token_scores(
            method,
            model,
            forward,
            ids,
            base,
            targets,
            args,
            enc,
            n_steps,
            granularity,
            seed,
            method_kwargs,
        )
    results, fingerprint = [], fingerprint_of(model)
    for i in range(len(texts)):
        units, spans, values = _units(enc, i, scores[i].cpu(), granularity, grouped)
        results.append(
            TextExplanation(
                text=texts[i],
                units=units,
                spans=spans,
                attributions=values,
                target=targets[i],
                label=label_of(id2label, targets[i]),
                probability=float(probs[i, targets[i]]),
                **prediction(probs[i], id2label),
                method=method,
                granularity=granularity,
                convergence_delta=None if delta is None else float(delta[i]),
                parameters={
                    "baseline": baseline,
                    "n_steps": n_steps,
                    "seed": seed,
                    **method_kwargs,
                },
                model_fingerprint=fingerprint,
            )
        )
    return results[0] if isinstance(text, str) else results


def _check_arguments(model, tokenizer, text, method, granularity, n_steps, max_length, seed):
    """Every argument checked before any work; returns the texts as a list."""
    if not isinstance(model, nn.Module):
        raise TypeError(
            f"`model` must be a torch.nn.Module taking token ids, got {type(model).__name__}"
        )
    if not callable(tokenizer) or not hasattr(tokenizer, "convert_ids_to_tokens"):
        raise TypeError(
            f"`tokenizer` must be a Hugging Face tokenizer, got {type(tokenizer).__name__}"
        )
    if isinstance(text, str):
        texts = [text]
    elif isinstance(text, (list, tuple)):
        if not text:
            raise ValueError("`text` is an empty list; give at least one string")
        texts = list(text)
    else:
        raise TypeError(f"`text` must be a string or a list of strings, got {type(text).__name__}")
    if method not in METHODS:
        raise ValueError(f"`method` must be one of {tuple(METHODS)}, got {method!r}")
    if granularity not in ("word", "token"):
        raise ValueError(f"`granularity` must be 'word' or 'token', got {granularity!r}")
    check_positive_int(n_steps, "n_steps")
    if max_length is not None:
        check_positive_int(max_length, "max_length")
    check_seed(seed)
    return texts


def _token_scores(
    method, model, forward, ids, base, targets, args, enc, n_steps, granularity, seed, kwargs
):
    """One score per token position ``(N, L)``, the convergence delta if the method has one,
    and whether the scores are per word group (every token of a word carries its value)."""
    groups = (
        word_groups(enc) if granularity == "word" else torch.arange(ids.shape[1]).expand_as(ids)
    )
    facts = Facts(
        ids,
        target=targets,
        baseline=base,
        feature_mask=groups.to(ids.device),
        generator=make_generator(seed),
        layer=lambda: embedding_layer(model),
        additional_forward_args=args,
        options={"n_steps": n_steps},
    )
    run = prepare(method, forward, facts)
    attr, delta = attribute_with_delta(run, **kwargs)
    if attr.dim() > ids.dim():  # a layer's units (the embedding): summed per token
        attr = attr.sum(tuple(range(ids.dim(), attr.dim())))
    return attr.detach().float(), delta, run.grouped


def _units(enc, i, scores, granularity, grouped):
    """Words (summing their tokens) or tokens, without special tokens."""
    if granularity == "token":
        keep = [j for j in range(len(enc.tokens[i])) if not enc.special[i, j]]
        return (
            [enc.tokens[i][j] for j in keep],
            [enc.offsets[i][j] for j in keep],
            scores[keep] if keep else scores[:0],
        )
    words = words_of(enc, i)
    per_word = []
    for w, _, _ in words:
        positions = [
            j for j, wid in enumerate(enc.word_ids[i]) if wid == w and not enc.special[i, j]
        ]
        values = scores[positions]
        # a grouped method gives every token of a word the word's value; gradients add up
        per_word.append(values[0] if grouped else values.sum())
    return (
        [t for _, t, _ in words],
        [s for _, _, s in words],
        torch.stack(per_word) if per_word else scores[:0],
    )
