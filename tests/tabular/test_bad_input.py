"""Bad input to the tabular front end: a TypeError/ValueError that names the argument."""

import numpy as np
import pandas as pd
import pytest
import torch
from torch import nn

from perspicio import tabular

from ..conftest import assert_unchanged, model_fingerprint

RNG = np.random.default_rng(0)
BACKGROUND = pd.DataFrame(RNG.normal(size=(60, 4)).astype(np.float32), columns=list("abcd"))
ROWS = BACKGROUND.iloc[:3] + 1.0

# (case, explain keyword arguments, error type, the argument the message must name)
CASES = [
    ("X None", dict(X=None), TypeError, "X"),
    ("X a list", dict(X=[[1, 2, 3, 4]]), TypeError, "X"),
    ("X empty frame", dict(X=ROWS.iloc[:0]), ValueError, "X"),
    ("X NaN", dict(X=ROWS.assign(a=np.nan)), ValueError, "X"),
    ("X infinite", dict(X=ROWS.assign(b=np.inf)), ValueError, "X"),
    ("X text column", dict(X=ROWS.assign(c="x")), TypeError, "X"),
    ("X strings array", dict(X=np.array([["a"] * 4])), TypeError, "X"),
    ("X too few columns", dict(X=ROWS.to_numpy()[:, :3]), ValueError, "X"),
    ("X lacks a named column", dict(X=ROWS.drop(columns=["d"])), ValueError, "X"),
    ("X 3-d", dict(X=np.zeros((2, 2, 4))), ValueError, "X"),
    ("one row, no background", dict(X=ROWS.iloc[[0]], background=None), ValueError, "background"),
    ("background empty", dict(background=BACKGROUND.iloc[:0]), ValueError, "background"),
    ("background NaN", dict(background=BACKGROUND.assign(a=np.nan)), ValueError, "background"),
    (
        "background too few columns",
        dict(background=BACKGROUND.iloc[:, :3]),
        ValueError,
        "background",
    ),
    ("background a string", dict(background="train.csv"), TypeError, "background"),
    ("method unknown", dict(method="nope"), ValueError, "method"),
    ("method a layer method", dict(method="gradcam"), ValueError, "method"),
    ("method int", dict(method=3), TypeError, "method"),
    ("baseline unknown", dict(baseline="mode"), ValueError, "baseline"),
    ("baseline row of the wrong length", dict(baseline=[0.0, 1.0]), ValueError, "baseline"),
    ("baseline a dict", dict(baseline={"a": 1}), TypeError, "baseline"),
    ("target out of range", dict(target=7), ValueError, "target"),
    ("target a label", dict(target="benign"), ValueError, "target"),
    ("target list of the wrong length", dict(target=[0, 1]), ValueError, "target"),
    ("groups unknown column", dict(groups={"ab": ["a", "z"]}), ValueError, "groups"),
    (
        "feature_names wrong length",
        dict(X=ROWS.to_numpy(), background=BACKGROUND.to_numpy(), feature_names=["a"]),
        ValueError,
        "feature_names",
    ),
    ("n_samples zero", dict(method="kernel_shap", n_samples=0), ValueError, "n_samples"),
    ("max_background zero", dict(max_background=0), ValueError, "max_background"),
    ("seed str", dict(method="kernel_shap", seed="x"), TypeError, "seed"),
    ("model None", dict(model=None), TypeError, "model"),
]


@pytest.mark.parametrize(("case", "kwargs", "error", "argument"), CASES, ids=[c[0] for c in CASES])
def test_explain_names_the_bad_argument(case, kwargs, error, argument):
    torch.manual_seed(0)
    net = nn.Sequential(nn.Linear(4, 8), nn.Tanh(), nn.Linear(8, 3)).eval()
    kwargs = {"model": net, "X": ROWS, "background": BACKGROUND, **kwargs}
    before = model_fingerprint(net)
    with pytest.raises(error, match=f"`{argument}`"):
        tabular.explain(**kwargs)
    assert_unchanged(net, before)


def test_global_importance_and_the_preprocessor_name_the_bad_argument():
    net = nn.Linear(4, 1)
    with pytest.raises(ValueError, match="`batch_size`"):
        tabular.global_importance(net, ROWS, background=BACKGROUND, batch_size=0)
    with pytest.raises(TypeError, match="`target`"):
        tabular.global_importance(net, ROWS, background=BACKGROUND, target="x")
    with pytest.raises(TypeError, match="`X`"):
        tabular.global_importance(net, None)
    from sklearn.preprocessing import StandardScaler

    scaler = StandardScaler().fit(BACKGROUND)
    with pytest.raises(TypeError, match="`background`"):
        tabular.explain(net, ROWS, background=BACKGROUND.to_numpy(), preprocessor=scaler)
    with pytest.raises(TypeError, match="`X`"):
        tabular.explain(net, ROWS.to_numpy(), background=BACKGROUND, preprocessor=scaler)
    with pytest.raises(ValueError, match="`X`"):
        tabular.explain(net, ROWS.drop(columns=["a"]), background=BACKGROUND, preprocessor=scaler)
