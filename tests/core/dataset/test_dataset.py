"""attribute_dataset: shards, reducers, resuming, refusing to mix runs."""

import json

import numpy as np
import pytest
import torch
from torch import nn

from perspicio.core import KernelShap, Saliency, attribute_dataset


def mlp():
    torch.manual_seed(0)
    return nn.Sequential(nn.Linear(6, 16), nn.Tanh(), nn.Linear(16, 2)).eval()


@pytest.fixture(scope="module")
def rows():
    return torch.randn(10_000, 6, generator=torch.Generator().manual_seed(0))


def factory():
    return KernelShap(mlp())


def test_ten_thousand_rows_in_shards_equal_the_in_memory_reducers(rows, tmp_path):
    kw = dict(target=1, n_samples=40, generator=0)
    result = attribute_dataset(
        factory,
        rows,
        batch_size=1000,
        output=tmp_path,
        reducers=("mean_abs", "mean"),
        show_progress=False,
        **kw,
    )
    assert result.n_rows == 10_000 and len(result.shards) == 10
    in_memory = torch.cat(
        [factory().attribute(rows[i : i + 1000], **kw) for i in range(0, 10_000, 1000)]
    )
    assert np.allclose(result.reducers["mean_abs"], in_memory.abs().mean(0).numpy(), atol=1e-6)
    assert np.allclose(result.reducers["mean"], in_memory.mean(0).numpy(), atol=1e-6)
    stored = np.concatenate([np.load(tmp_path / s) for s in result.shards])
    assert np.allclose(stored, in_memory.numpy())
    manifest = json.loads((tmp_path / "manifest.json").read_text())
    assert (
        manifest["method"] == "KernelShap" and sum(s["rows"] for s in manifest["shards"]) == 10_000
    )
    assert len(manifest["model_fingerprint"]) == 64


class Interrupted(Exception):
    pass


def stop_after(batches, k):
    for i, batch in enumerate(batches):
        if i == k:
            raise Interrupted
        yield batch


def test_an_interrupted_run_resumes_without_recomputing(rows, tmp_path):
    batches = [rows[i : i + 500] for i in range(0, 3000, 500)]
    kw = dict(target=0, n_samples=30, generator=0, show_progress=False)
    with pytest.raises(Interrupted):
        attribute_dataset(factory, stop_after(batches, 3), output=tmp_path, **kw)
    first = {p.name: p.stat().st_mtime_ns for p in tmp_path.glob("shard-*.npy")}
    assert len(first) == 3
    resumed = attribute_dataset(factory, batches, output=tmp_path, **kw)
    assert len(resumed.shards) == 6
    assert all(
        tmp_path.joinpath(n).stat().st_mtime_ns == t for n, t in first.items()
    )  # not rewritten
    fresh = attribute_dataset(factory, batches, output=tmp_path / "fresh", **kw)
    for name in resumed.shards:
        assert np.array_equal(np.load(tmp_path / name), np.load(tmp_path / "fresh" / name))
    assert np.allclose(resumed.reducers["mean_abs"], fresh.reducers["mean_abs"])


def test_refuses_to_mix_runs_unless_told(rows, tmp_path):
    attribute_dataset(
        factory,
        rows[:200],
        batch_size=100,
        output=tmp_path,
        target=0,
        n_samples=20,
        show_progress=False,
    )
    with pytest.raises(ValueError, match="another run"):
        attribute_dataset(
            lambda: Saliency(mlp()),
            rows[:200],
            batch_size=100,
            output=tmp_path,
            target=0,
            show_progress=False,
        )
    other = attribute_dataset(
        lambda: Saliency(mlp()),
        rows[:200],
        batch_size=100,
        output=tmp_path,
        target=0,
        overwrite=True,
        show_progress=False,
    )
    assert json.loads((tmp_path / "manifest.json").read_text())["method"] == "Saliency"
    assert other.n_rows == 200


def test_labels_per_class_reducer_and_dataset_forms():
    x = torch.randn(12, 6, generator=torch.Generator().manual_seed(1))
    y = torch.tensor([0, 1] * 6)
    data = torch.utils.data.TensorDataset(x, y)
    result = attribute_dataset(
        lambda: Saliency(mlp()),
        data,
        batch_size=5,
        target="label",
        reducers=("per_class_mean_abs",),
        show_progress=False,
    )
    direct = Saliency(mlp()).attribute(x, target=y.tolist())
    assert np.allclose(
        result.reducers["per_class_mean_abs"][1], direct[y == 1].mean(0).numpy(), atol=1e-6
    )
    import pandas as pd

    frame = pd.DataFrame(x.numpy())
    assert (
        attribute_dataset(lambda: Saliency(mlp()), frame, target=0, show_progress=False).n_rows
        == 12
    )


def test_bad_input():
    with pytest.raises(ValueError, match="engine"):
        attribute_dataset(
            lambda: Saliency(mlp()), torch.zeros(2, 6), engine="spark", show_progress=False
        )
    with pytest.raises(ValueError, match="reducer"):
        attribute_dataset(
            lambda: Saliency(mlp()),
            torch.zeros(2, 6),
            target=0,
            reducers=("max",),
            show_progress=False,
        )
    with pytest.raises((ImportError, NotImplementedError), match="distributed|Ray engine"):
        attribute_dataset(
            lambda: Saliency(mlp()), torch.zeros(2, 6), engine="ray", show_progress=False
        )
