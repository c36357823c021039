"""Bad input to the text front end: a TypeError/ValueError that names the argument."""

import pytest
import torch

pytest.importorskip("transformers")

from perspicio import text  # noqa: E402
from perspicio.text.demo import tiny_config, tiny_tokenizer  # noqa: E402

from ..conftest import assert_unchanged, model_fingerprint  # noqa: E402


@pytest.fixture(scope="module")
def untrained():
    """The demo architecture with random weights: bad input needs no trained model."""
    from transformers import BertForSequenceClassification

    tokenizer = tiny_tokenizer()
    torch.manual_seed(0)
    return BertForSequenceClassification(tiny_config(len(tokenizer))).eval(), tokenizer


# (case, explain keyword arguments, error type, the argument the message must name)
CASES = [
    ("text None", dict(text=None), TypeError, "text"),
    ("text int", dict(text=42), TypeError, "text"),
    ("text empty list", dict(text=[]), ValueError, "text"),
    ("text blank", dict(text="   "), ValueError, "text"),
    ("text list with a number", dict(text=["good film", 3]), TypeError, "text"),
    ("text too long", dict(text="good " * 100), ValueError, "max_length"),
    ("target unknown label", dict(target="neutral"), ValueError, "target"),
    ("target out of range", dict(target=5), ValueError, "target"),
    ("target list of the wrong length", dict(target=[0, 1]), ValueError, "target"),
    ("method unknown", dict(method="gradcam"), ValueError, "method"),
    ("baseline unknown", dict(baseline="zeros"), ValueError, "baseline"),
    (
        "baseline ids of the wrong shape",
        dict(baseline=torch.zeros(1, 3, dtype=torch.long)),
        ValueError,
        "baseline",
    ),
    ("granularity unknown", dict(granularity="sentence"), ValueError, "granularity"),
    ("n_steps zero", dict(n_steps=0), ValueError, "n_steps"),
    ("n_steps float", dict(n_steps=2.5), TypeError, "n_steps"),
    ("max_length zero", dict(max_length=0), ValueError, "max_length"),
    ("seed str", dict(method="kernel_shap", seed="x"), TypeError, "seed"),
    ("model None", dict(model=None), TypeError, "model"),
    ("model a function", dict(model=lambda ids: ids), TypeError, "model"),
    ("tokenizer None", dict(tokenizer=None), TypeError, "tokenizer"),
    ("tokenizer a string", dict(tokenizer="bert-base-uncased"), TypeError, "tokenizer"),
]


@pytest.mark.parametrize(("case", "kwargs", "error", "argument"), CASES, ids=[c[0] for c in CASES])
def test_explain_names_the_bad_argument(untrained, case, kwargs, error, argument):
    model, tokenizer = untrained
    kwargs = {"model": model, "tokenizer": tokenizer, "text": "a good film", **kwargs}
    before = model_fingerprint(model)
    with pytest.raises(error, match=f"`{argument}`"):
        text.explain(**kwargs)
    assert_unchanged(model, before)
