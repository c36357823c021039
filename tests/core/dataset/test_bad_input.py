"""Bad input to attribute_dataset: a TypeError/ValueError naming the argument, before work."""

import numpy as np
import pytest
import torch

from perspicio.core import Saliency, attribute_dataset

pd = pytest.importorskip("pandas")

NET = torch.nn.Linear(3, 2)
X = torch.randn(10, 3)
FRAME = pd.DataFrame(X.numpy(), columns=list("abc"))

# (case, attribute_dataset keyword arguments, error type, the argument the message names)
CASES = [
    ("factory None", dict(method_factory=None), TypeError, "method_factory"),
    (
        "factory is a method, not a function",
        dict(method_factory=Saliency(NET)),
        TypeError,
        "method_factory",
    ),
    ("factory returns the model", dict(method_factory=lambda: NET), TypeError, "method_factory"),
    ("dataset None", dict(dataset=None), TypeError, "dataset"),
    ("dataset int", dict(dataset=42), TypeError, "dataset"),
    ("dataset empty tensor", dict(dataset=torch.zeros(0, 3)), ValueError, "dataset"),
    ("dataset empty frame", dict(dataset=FRAME.iloc[:0]), ValueError, "dataset"),
    ("dataset missing path", dict(dataset="/no/such/rows.parquet"), ValueError, "dataset"),
    ("dataset strings", dict(dataset=np.array([["a", "b", "c"]])), TypeError, "dataset"),
    ("batch_size zero", dict(batch_size=0), ValueError, "batch_size"),
    ("batch_size str", dict(batch_size="x"), TypeError, "batch_size"),
    ("engine unknown", dict(engine="spark"), ValueError, "engine"),
    ("reducers unknown", dict(reducers=("median",)), ValueError, "reducers"),
    ("reducers a string", dict(reducers="mean"), TypeError, "reducers"),
    (
        "per-class reducer without labels",
        dict(reducers=("per_class_mean_abs",)),
        ValueError,
        "reducers",
    ),
    ("target label without labels", dict(target="label"), ValueError, "target"),
    ("target out of range", dict(target=5), ValueError, "target"),
    ("label_column unknown", dict(dataset=FRAME, label_column="y"), ValueError, "label_column"),
    ("columns unknown", dict(dataset=FRAME, columns=["z"]), ValueError, "columns"),
    ("output is a file", dict(output=__file__), ValueError, "output"),
    ("shard_format unknown", dict(shard_format="csv"), ValueError, "shard_format"),
    ("concurrency zero", dict(concurrency=0), ValueError, "concurrency"),
]


@pytest.mark.parametrize(("case", "kwargs", "error", "argument"), CASES, ids=[c[0] for c in CASES])
def test_attribute_dataset_names_the_bad_argument(case, kwargs, error, argument):
    calls = []

    def factory():
        calls.append(1)
        return Saliency(NET)

    kwargs = {
        "method_factory": factory,
        "dataset": X,
        "target": 0,
        "show_progress": False,
        **kwargs,
    }
    with pytest.raises(error, match=f"`{argument}`"):
        attribute_dataset(**kwargs)
    if argument not in ("method_factory", "target"):
        assert not calls, "the method was built before the arguments were checked"
