"""Tabular demo models on scikit-learn's bundled datasets, trained in seconds and cached."""

from __future__ import annotations

import torch
from torch import nn

from perspicio._cache import cache_dir


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


def _train(model, x, y, classification: bool, name: str):
    path = cache_dir() / f"{name}.pt"
    if path.exists():
        model.load_state_dict(torch.load(path, map_location="cpu", weights_only=True))
        return model.eval()
    torch.manual_seed(0)
    optimizer = torch.optim.Adam(model.parameters(), lr=3e-3, weight_decay=1e-4)
    loss = nn.functional.cross_entropy if classification else nn.functional.mse_loss
    for _ in range(300):
        optimizer.zero_grad()
        out = model(x)
        loss(out, y if classification else y.view(-1, 1)).backward()
        optimizer.step()
    torch.save(model.state_dict(), path)
    return model.eval()


def breast_cancer_mlp():
    """``(model, X, y)``: an MLP on the breast-cancer data (raw columns in, 2 logits out)."""
    X, y = breast_cancer()
    x = torch.tensor(X.to_numpy(), dtype=torch.float32)
    model = StandardizedMLP(x.mean(0), x.std(0), 2)
    return _train(model, x, torch.tensor(y.to_numpy()), True, "breast_cancer_mlp_v1"), X, y


def diabetes_mlp():
    """``(model, X, y)``: a regression MLP on scikit-learn's diabetes data (one output)."""
    from sklearn.datasets import load_diabetes

    X, y = _frame(load_diabetes)
    x = torch.tensor(X.to_numpy(), dtype=torch.float32)
    target = torch.tensor(y.to_numpy(), dtype=torch.float32)
    model = StandardizedMLP(x.mean(0), x.std(0), 1)
    model.net[-1].bias.data.fill_(float(target.mean()))
    return _train(model, x, target, False, "diabetes_mlp_v1"), X, y


def gradient_boosting():
    """``(classifier, X, y)``: scikit-learn's gradient boosting on the breast-cancer data,
    a model that is not torch and has no gradients (explain its ``predict_proba``)."""
    from sklearn.ensemble import GradientBoostingClassifier

    X, y = breast_cancer()
    return GradientBoostingClassifier(n_estimators=50, random_state=0).fit(X, y), X, y
