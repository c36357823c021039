"""Tabular demo models on scikit-learn's bundled datasets, trained in seconds and cached.

Each loader returns a :class:`TabularDemo`: the model, the training split (the reference
population to explain against) and held-out rows to explain, so that

>>> from perspicio import tabular
>>> from perspicio.tabular.demo import breast_cancer_mlp
>>> model, background, rows = breast_cancer_mlp()
>>> exp = tabular.Explainer(model, background).explain(rows.iloc[:1])
"""

from __future__ import annotations

from typing import Any, NamedTuple

import torch
from torch import nn

from perspicio._cache import cached_artifact
from perspicio._training import fit, snapshot

#: The held-out share of each demo table, and the seed of the split.
TEST_SIZE, SPLIT_SEED = 0.2, 0


class TabularDemo(NamedTuple):
    """A demo model, its training rows (the background) and held-out rows to explain."""

    model: Any
    background: Any
    rows: Any


class StandardizedMLP(nn.Module):
    """Standardises raw columns inside the model (so it takes the table as it is), then an MLP."""

    def __init__(
        self, mean: torch.Tensor, std: torch.Tensor, outputs: int, hidden: int = 32
    ) -> None:
        super().__init__()
        self.register_buffer("mean", mean)
        self.register_buffer("std", std)
        self.net = nn.Sequential(
            nn.Linear(len(mean), hidden),
            nn.ReLU(),
            nn.Linear(hidden, hidden),
            nn.ReLU(),
            nn.Linear(hidden, outputs),
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.net((x - self.mean) / self.std)


def _frame(loader):
    data = loader(as_frame=True)
    return data.frame.drop(columns=["target"]), data.target


def breast_cancer():
    """The breast-cancer table (569 patients, 30 features) and labels (0 malignant, 1 benign)."""
    from sklearn.datasets import load_breast_cancer

    return _frame(load_breast_cancer)


def diabetes():
    """scikit-learn's diabetes table (442 patients, 10 features) and disease progression."""
    from sklearn.datasets import load_diabetes

    return _frame(load_diabetes)


def split(X, y, stratify: bool):
    """``(X_train, X_test, y_train, y_test)``: the demos' seeded 80/20 split."""
    from sklearn.model_selection import train_test_split

    return train_test_split(
        X, y, test_size=TEST_SIZE, random_state=SPLIT_SEED, stratify=y if stratify else None
    )


def breast_cancer_split():
    """The breast-cancer table split as the demo model was trained: ``(X_train, X_test,
    y_train, y_test)``."""
    return split(*breast_cancer(), stratify=True)


def diabetes_split():
    """The diabetes table split as the demo model was trained."""
    return split(*diabetes(), stratify=False)


def _fit(
    model: nn.Module,
    x: torch.Tensor,
    y: torch.Tensor,
    classification: bool,
    epochs: int,
    lr: float,
    weight_decay: float,
) -> dict[str, torch.Tensor]:
    """Full-batch Adam; the trained state dict."""
    optimizer = torch.optim.Adam(model.parameters(), lr=lr, weight_decay=weight_decay)
    loss = nn.functional.cross_entropy if classification else nn.functional.mse_loss
    target = y if classification else y.view(-1, 1)
    fit(lambda _: loss(model(x), target), optimizer, range(epochs))
    return model.state_dict()


def _tensors(X, y, dtype) -> tuple[torch.Tensor, torch.Tensor]:
    return torch.tensor(X.to_numpy(), dtype=torch.float32), torch.tensor(y.to_numpy(), dtype=dtype)


def _breast_cancer_net() -> tuple[StandardizedMLP, torch.Tensor, torch.Tensor]:
    X_train, _, y_train, _ = breast_cancer_split()
    x, y = _tensors(X_train, y_train, torch.long)
    return StandardizedMLP(x.mean(0), x.std(0), 2), x, y


@cached_artifact(
    "breast_cancer_mlp_v2",
    depends=(_fit, fit, _breast_cancer_net, StandardizedMLP, split),
    test_size=TEST_SIZE,
    split_seed=SPLIT_SEED,
    seed=0,
    epochs=300,
    lr=3e-3,
    weight_decay=1e-4,
)
def _trained_breast_cancer(test_size, split_seed, seed, epochs, lr, weight_decay):
    torch.manual_seed(seed)
    model, x, y = _breast_cancer_net()
    return _fit(model, x, y, True, epochs, lr, weight_decay)


def breast_cancer_mlp() -> TabularDemo:
    """An MLP on the breast-cancer data (raw columns in, 2 logits out: malignant, benign),
    trained on 80% of the patients on first use (a second) and cached: ``(model,
    background, rows)`` with the 455 training patients and the 114 held out."""
    model, _, _ = _breast_cancer_net()
    model.load_state_dict(_trained_breast_cancer())
    X_train, X_test, _, _ = breast_cancer_split()
    return TabularDemo(model.eval(), X_train, X_test)


def _diabetes_net() -> tuple[StandardizedMLP, torch.Tensor, torch.Tensor]:
    X_train, _, y_train, _ = diabetes_split()
    x, target = _tensors(X_train, y_train, torch.float32)
    model = StandardizedMLP(x.mean(0), x.std(0), 1)
    model.net[-1].bias.data.fill_(float(target.mean()))
    return model, x, target


@cached_artifact(
    "diabetes_mlp_v2",
    depends=(_fit, fit, _diabetes_net, StandardizedMLP, split),
    test_size=TEST_SIZE,
    split_seed=SPLIT_SEED,
    seed=0,
    epochs=300,
    lr=3e-3,
    weight_decay=1e-4,
)
def _trained_diabetes(test_size, split_seed, seed, epochs, lr, weight_decay):
    torch.manual_seed(seed)
    model, x, y = _diabetes_net()
    return _fit(model, x, y, False, epochs, lr, weight_decay)


def diabetes_mlp() -> TabularDemo:
    """A regression MLP on scikit-learn's diabetes data (one output), trained on 80% of the
    patients on first use and cached: ``(model, background, rows)``."""
    model, _, _ = _diabetes_net()
    model.load_state_dict(_trained_diabetes())
    X_train, X_test, _, _ = diabetes_split()
    return TabularDemo(model.eval(), X_train, X_test)


def gradient_boosting() -> TabularDemo:
    """scikit-learn's gradient boosting on the breast-cancer training split, a model that is
    not torch and has no gradients (explain its ``predict_proba``): ``(classifier,
    background, rows)``."""
    from sklearn.ensemble import GradientBoostingClassifier

    X_train, X_test, y_train, _ = breast_cancer_split()
    clf = GradientBoostingClassifier(n_estimators=50, random_state=0).fit(X_train, y_train)
    return TabularDemo(clf, X_train, X_test)


def clinical_table(n: int = 800, seed: int = 0) -> tuple[Any, Any]:
    """A generated clinical table as analysts keep one, and its outcome: ``(frame, event)``.

    Columns: ``age`` (int64), ``sex`` (``"F"``/``"M"``, text), ``bmi`` (float64, about 8%
    missing), ``systolic_bp`` (float64), ``smoker`` (categorical: ``"never"``, ``"former"``,
    ``"current"``), ``region`` (text, some missing) and ``diabetic`` (bool). The outcome
    (a cardiovascular event, 0/1) rises with age, blood pressure, smoking and diabetes, and
    with a high BMI in men; the region plays no part.

    Examples
    --------
    >>> frame, event = clinical_table(5)
    >>> list(frame.columns)
    ['age', 'sex', 'bmi', 'systolic_bp', 'smoker', 'region', 'diabetic']
    """
    import numpy as np
    import pandas as pd

    rng = np.random.default_rng(seed)
    age = rng.integers(25, 90, n)
    sex = rng.choice(["F", "M"], n)
    bmi = rng.normal(27, 4.5, n).round(1)
    bp = (110 + 0.5 * (age - 25) + rng.normal(0, 12, n)).round(0)
    smoker = rng.choice(["never", "former", "current"], n, p=[0.55, 0.25, 0.2])
    region = rng.choice(["north", "south", "east", "west"], n).astype(object)
    diabetic = rng.random(n) < 0.08 + 0.004 * (bmi - 20).clip(0)
    logit = (
        -4.2
        + 0.07 * age
        + 0.03 * (bp - 120)
        + np.select([smoker == "current", smoker == "former"], [1.5, 0.5], 0.0)
        + 1.0 * diabetic
        + 0.2 * (bmi - 27) * (sex == "M")
        - 2.0
    )
    event = (rng.random(n) < 1 / (1 + np.exp(-logit))).astype(int)
    bmi[rng.random(n) < 0.08] = np.nan
    region[rng.random(n) < 0.05] = None
    frame = pd.DataFrame(
        {
            "age": age.astype(np.int64),
            "sex": sex.astype(object),
            "bmi": bmi,
            "systolic_bp": bp,
            "smoker": pd.Categorical(smoker, categories=["never", "former", "current"]),
            "region": region,
            "diabetic": diabetic,
        }
    )
    return frame, pd.Series(event, name="event")


def clinical_pipeline(estimator: Any = None, n: int = 800, seed: int = 0) -> TabularDemo:
    """A scikit-learn pipeline on :func:`clinical_table`: the numbers imputed (median) and
    scaled, the categories and text one-hot encoded (missing as its own category), then
    ``estimator`` (default: a random forest of 100 trees of depth 6); fitted on 80% of the
    table in a second or two. ``(pipeline, background, rows)`` with the raw DataFrames.
    """
    from sklearn.compose import ColumnTransformer
    from sklearn.ensemble import RandomForestClassifier
    from sklearn.impute import SimpleImputer
    from sklearn.model_selection import train_test_split
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import OneHotEncoder, StandardScaler

    frame, event = clinical_table(n, seed)
    numbers = make_pipeline(SimpleImputer(strategy="median"), StandardScaler())
    categories = make_pipeline(
        SimpleImputer(strategy="constant", fill_value="missing"),
        OneHotEncoder(handle_unknown="ignore"),
    )
    steps = ColumnTransformer(
        [
            ("numbers", numbers, ["age", "bmi", "systolic_bp"]),
            ("categories", categories, ["sex", "smoker", "region"]),
            ("flags", "passthrough", ["diabetic"]),
        ]
    )
    if estimator is None:
        estimator = RandomForestClassifier(100, max_depth=6, random_state=0, n_jobs=1)
    X_train, X_test, y_train, _ = train_test_split(
        frame, event, test_size=TEST_SIZE, random_state=SPLIT_SEED, stratify=event
    )
    pipeline = make_pipeline(steps, estimator).fit(X_train, y_train)
    return TabularDemo(pipeline, X_train, X_test)


class MislabeledDemo(NamedTuple):
    """A model trained on labels of which a known share was flipped, with its checkpoints."""

    model: Any
    checkpoints: list[str]
    X_train: Any
    y_train: Any
    flipped: Any
    X_test: Any
    y_test: Any


@cached_artifact(
    "breast_cancer_noisy_mlp_v1",
    depends=(_breast_cancer_net, StandardizedMLP, split, fit, snapshot),
    test_size=TEST_SIZE,
    split_seed=SPLIT_SEED,
    share=0.05,
    seed=0,
    epochs=(40, 120, 300),
    lr=3e-3,
    weight_decay=1e-4,
)
def _trained_noisy_breast_cancer(test_size, split_seed, share, seed, epochs, lr, weight_decay):
    torch.manual_seed(seed)
    model, x, y = _breast_cancer_net()
    generator = torch.Generator().manual_seed(seed)
    flipped = torch.randperm(len(y), generator=generator)[: round(share * len(y))].sort().values
    noisy = y.clone()
    noisy[flipped] = 1 - noisy[flipped]
    optimizer = torch.optim.Adam(model.parameters(), lr=lr, weight_decay=weight_decay)
    states = []
    for start, stop in zip((0, *epochs), epochs):  # full-batch steps up to each checkpoint
        fit(lambda _: nn.functional.cross_entropy(model(x), noisy), optimizer, range(start, stop))
        states.append(snapshot(model))
    return {"checkpoints": states, "flipped": flipped, "labels": noisy, "lr": lr}


def breast_cancer_mislabeled() -> MislabeledDemo:
    """The breast-cancer MLP trained on labels of which 5% (23 of the 455 training
    patients, chosen at random) were flipped, with checkpoints after 40, 120 and 300
    epochs of full-batch Adam (written as files to the cache folder, each holding its
    ``learning_rate``): the ground truth for finding mislabelled training rows.

    Returns ``(model, checkpoints, X_train, y_train, flipped, X_test, y_test)``: the model
    at its last checkpoint, the checkpoint files, the training table with the noisy labels
    (a Series), the positions of the flipped rows, and the clean held-out rows.
    """
    import pandas as pd

    from perspicio._cache import checkpoint_files

    trained = _trained_noisy_breast_cancer()
    paths = checkpoint_files(_trained_noisy_breast_cancer, trained["checkpoints"], trained["lr"])
    model, _, _ = _breast_cancer_net()
    model.load_state_dict(trained["checkpoints"][-1])
    X_train, X_test, _, y_test = breast_cancer_split()
    y_noisy = pd.Series(trained["labels"].numpy(), index=X_train.index, name="target")
    return MislabeledDemo(
        model.eval(), paths, X_train, y_noisy, trained["flipped"].numpy(), X_test, y_test
    )
