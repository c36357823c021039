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
    for bad in ({"shard_format": "csv"}, {"batch_size": 0}):
        with pytest.raises(ValueError, match=next(iter(bad))):
            attribute_dataset(
                lambda: Saliency(mlp()), torch.zeros(2, 6), target=0, show_progress=False, **bad
            )
    with pytest.raises(ValueError, match="does not exist"):
        attribute_dataset(lambda: Saliency(mlp()), "/no/such/folder", show_progress=False)
    with pytest.raises(TypeError, match="dataset"):
        attribute_dataset(lambda: Saliency(mlp()), 42, show_progress=False)


def test_the_ray_engine_without_ray_names_the_extra(monkeypatch):
    import sys

    monkeypatch.setitem(sys.modules, "ray", None)
    with pytest.raises(ImportError, match=r"perspicio\[distributed\]"):
        attribute_dataset(
            lambda: Saliency(mlp()), torch.zeros(2, 6), engine="ray", show_progress=False
        )


def test_parquet_in_parquet_shards_out(tmp_path):
    pd = pytest.importorskip("pandas")
    pytest.importorskip("pyarrow")
    from perspicio.core.dataset import read_shard

    x = torch.randn(300, 6, generator=torch.Generator().manual_seed(2))
    frame = pd.DataFrame(x.numpy(), columns=list("abcdef"))
    frame["y"] = (x[:, 0] > 0).long().numpy()
    source = tmp_path / "table"
    source.mkdir()
    frame.iloc[:170].to_parquet(source / "part-0.parquet", row_group_size=50)
    frame.iloc[170:].to_parquet(source / "part-1.parquet", row_group_size=50)
    result = attribute_dataset(
        lambda: Saliency(mlp()),
        source,
        batch_size=64,
        target="label",
        label_column="y",
        output=tmp_path / "out",
        shard_format="parquet",
        reducers=("mean_abs", "per_class_mean_abs"),
        show_progress=False,
    )
    direct = Saliency(mlp()).attribute(x, target=frame["y"].tolist())
    stored = np.concatenate([read_shard(tmp_path / "out" / s) for s in result.shards])
    assert result.n_rows == 300 and len(result.shards) == 5  # shards cross files and groups
    assert np.allclose(stored, direct.numpy(), atol=1e-6)
    assert pd.read_parquet(tmp_path / "out" / result.shards[0]).columns.tolist() == list("abcdef")
    y = frame["y"].to_numpy()
    assert np.allclose(
        result.reducers["per_class_mean_abs"][1], direct[y == 1].abs().mean(0).numpy(), atol=1e-6
    )


def cnn():
    torch.manual_seed(0)
    return nn.Sequential(nn.Conv2d(3, 4, 3), nn.ReLU(), nn.Flatten(), nn.Linear(4 * 6 * 6, 2))


def test_a_folder_of_images_with_class_subfolders(tmp_path):
    Image = pytest.importorskip("PIL.Image")
    from perspicio.core.dataset import read_shard

    rng = np.random.default_rng(0)
    pixels = rng.integers(0, 256, (7, 8, 8, 3), dtype=np.uint8)
    for i, img in enumerate(pixels):
        folder = tmp_path / "images" / ("cats" if i % 2 else "dogs")
        folder.mkdir(parents=True, exist_ok=True)
        Image.fromarray(img).save(folder / f"{i}.png")
    result = attribute_dataset(
        lambda: Saliency(cnn().eval()),
        tmp_path / "images",
        batch_size=3,
        target="label",
        output=tmp_path / "maps",
        shard_format="parquet",
        show_progress=False,
    )
    order = [1, 3, 5, 0, 2, 4, 6]  # sorted paths: cats/1, cats/3, cats/5, dogs/0, ...
    x = torch.from_numpy(pixels[order]).permute(0, 3, 1, 2).float() / 255
    labels = [0, 0, 0, 1, 1, 1, 1]
    direct = Saliency(cnn().eval()).attribute(x, target=labels)
    stored = np.concatenate([read_shard(tmp_path / "maps" / s, (3, 8, 8)) for s in result.shards])
    assert np.allclose(stored, direct.numpy(), atol=1e-6)
    Image.fromarray(pixels[0][:4]).save(tmp_path / "images" / "dogs" / "small.png")
    with pytest.raises(ValueError, match="different sizes"):
        attribute_dataset(
            lambda: Saliency(cnn().eval()),
            tmp_path / "images",
            batch_size=8,
            target=0,
            show_progress=False,
        )


def test_a_ray_dataset_needs_the_ray_engine():
    ray_data = pytest.importorskip("ray.data")
    with pytest.raises(TypeError, match="engine='ray'"):
        attribute_dataset(lambda: Saliency(mlp()), ray_data.range(4), target=0, show_progress=False)


def test_partials_arriving_out_of_order_are_merged_in_shard_order():
    from perspicio.core.dataset.shards import InOrder as _InOrder
    from perspicio.core.dataset.shards import Reducers as _Reducers
    from perspicio.core.dataset.shards import partial_sums

    rng = np.random.default_rng(0)
    shards = [rng.normal(size=(7, 3)) * 10.0**k for k in range(6)]  # magnitudes: order matters
    in_order, shuffled = _Reducers(("mean",)), _Reducers(("mean",))
    for a in shards:
        in_order.merge(partial_sums(a, None))
    merge = _InOrder(shuffled)
    for i in (2, 0, 5, 1, 4, 3):
        merge(i, partial_sums(shards[i], None))
        assert len(merge.waiting) <= 3  # only the early ones wait
    assert not merge.waiting
    assert np.array_equal(shuffled.result()["mean"], in_order.result()["mean"])


def test_a_dataframes_index_stored_in_parquet_is_not_a_feature(tmp_path):
    """pandas writes a shuffled (non-range) index as a column; it is not an input. The
    shards (16 rows) end inside the file's one row group of 40: each row is read once."""
    pd = pytest.importorskip("pandas")
    pytest.importorskip("pyarrow")
    x = torch.randn(40, 6, generator=torch.Generator().manual_seed(3))
    frame = pd.DataFrame(x.numpy(), columns=list("abcdef")).sample(frac=1.0, random_state=0)
    frame.to_parquet(tmp_path / "shuffled.parquet")
    import pyarrow.parquet as pq

    assert "__index_level_0__" in pq.read_schema(tmp_path / "shuffled.parquet").names
    result = attribute_dataset(
        lambda: Saliency(mlp()),
        tmp_path / "shuffled.parquet",
        batch_size=16,
        target=0,
        reducers=("mean_abs",),
        show_progress=False,
    )
    assert result.n_rows == 40
    rows = torch.tensor(frame.to_numpy())
    expected = Saliency(mlp()).attribute(rows, target=0).abs().mean(0)
    assert np.allclose(result.reducers["mean_abs"], expected.numpy(), atol=1e-6)
