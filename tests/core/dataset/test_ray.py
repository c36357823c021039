"""The Ray engine on a local Ray instance: the same shards and reducers as the local engine."""

import json

import numpy as np
import pytest
import torch
from torch import nn

from perspicio.core import KernelShap, Saliency, attribute_dataset
from perspicio.core.dataset import read_shard

ray = pytest.importorskip("ray")


@pytest.fixture(scope="module", autouse=True)
def local_ray():
    if ray.is_initialized():
        ray.shutdown()
    ray.init(num_cpus=2, include_dashboard=False, log_to_driver=False)
    yield
    ray.shutdown()


def mlp():
    torch.manual_seed(0)
    return nn.Sequential(nn.Linear(6, 16), nn.Tanh(), nn.Linear(16, 2)).eval()


def factory():
    return KernelShap(mlp())


ROWS = torch.randn(3000, 6, generator=torch.Generator().manual_seed(0))
KW = dict(target=1, n_samples=40, generator=0, show_progress=False)


@pytest.mark.parametrize("shard_format", ["npy", "parquet"])
def test_ray_equals_local(tmp_path, shard_format):
    common = dict(batch_size=500, reducers=("mean_abs", "mean"), shard_format=shard_format)
    local = attribute_dataset(factory, ROWS, output=tmp_path / "local", **common, **KW)
    remote = attribute_dataset(
        factory, ROWS, output=tmp_path / "ray", engine="ray", concurrency=2, **common, **KW
    )
    assert remote.shards == local.shards and len(local.shards) == 6
    for name in local.shards:
        assert np.array_equal(
            read_shard(tmp_path / "ray" / name), read_shard(tmp_path / "local" / name)
        )
    for key in ("mean_abs", "mean"):
        assert np.array_equal(remote.reducers[key], local.reducers[key])
    manifest = json.loads((tmp_path / "ray" / "manifest.json").read_text())
    assert sum(s["rows"] for s in manifest["shards"]) == 3000 and manifest["engine"] == "ray"


def test_batches_read_in_order_and_labels(tmp_path):
    y = (ROWS[:, 0] > 0).long()
    loader = torch.utils.data.DataLoader(torch.utils.data.TensorDataset(ROWS, y), batch_size=750)
    kw = dict(target="label", reducers=("per_class_mean_abs",), show_progress=False)
    local = attribute_dataset(lambda: Saliency(mlp()), loader, **kw)
    remote = attribute_dataset(lambda: Saliency(mlp()), loader, engine="ray", **kw)
    for c in (0, 1):
        assert np.allclose(
            remote.reducers["per_class_mean_abs"][c], local.reducers["per_class_mean_abs"][c]
        )


def test_a_run_interrupted_locally_is_finished_by_ray(tmp_path):
    batches = [ROWS[i : i + 500] for i in range(0, 3000, 500)]

    def stop_after_two():
        for i, batch in enumerate(batches):
            if i == 2:
                raise KeyboardInterrupt
            yield batch

    with pytest.raises(KeyboardInterrupt):
        attribute_dataset(factory, stop_after_two(), output=tmp_path, **KW)
    first = {p.name: p.stat().st_mtime_ns for p in tmp_path.glob("shard-*.npy")}
    assert len(first) == 2
    resumed = attribute_dataset(factory, batches, output=tmp_path, engine="ray", **KW)
    assert len(resumed.shards) == 6
    assert all(tmp_path.joinpath(n).stat().st_mtime_ns == t for n, t in first.items())
    fresh = attribute_dataset(factory, batches, **KW)
    assert np.array_equal(resumed.reducers["mean_abs"], fresh.reducers["mean_abs"])


def test_a_ray_dataset_as_input():
    frame = ray.data.from_numpy(ROWS.numpy()[:1000])
    remote = attribute_dataset(
        lambda: Saliency(mlp()), frame, batch_size=250, engine="ray", target=0, show_progress=False
    )
    local = attribute_dataset(
        lambda: Saliency(mlp()), ROWS[:1000], batch_size=250, target=0, show_progress=False
    )
    assert remote.n_rows == 1000
    assert np.allclose(remote.reducers["mean_abs"], local.reducers["mean_abs"])


def test_errors_of_the_workers_reach_the_caller_as_they_are():
    with pytest.raises(ValueError, match="`target` is None"):
        attribute_dataset(lambda: Saliency(mlp()), ROWS[:8], engine="ray", show_progress=False)
    with pytest.raises(TypeError, match="int seed"):
        attribute_dataset(
            factory,
            ROWS[:8],
            engine="ray",
            target=0,
            generator=torch.Generator(),
            show_progress=False,
        )


def test_the_front_ends_run_on_ray(tmp_path):
    pytest.importorskip("pandas")
    from perspicio import tabular

    X = ROWS[:400].numpy()
    net = nn.Sequential(nn.Linear(6, 8), nn.Tanh(), nn.Linear(8, 1)).eval()
    kw = dict(
        method="kernel_shap",
        baseline="mean",
        seed=0,
        n_samples=60,
        batch_size=100,
        show_progress=False,
    )
    local = tabular.global_importance(net, X, **kw)
    remote = tabular.global_importance(net, X, engine="ray", **kw)
    assert torch.equal(local.attributions, remote.attributions)
    assert torch.equal(local.scores, remote.scores)
    # a scikit-learn pipeline on a raw DataFrame (text, categories, missing values), its
    # trees explained exactly on the original columns: the same on the workers
    from sklearn.ensemble import RandomForestClassifier

    from perspicio.tabular.demo import clinical_pipeline

    pipe, background, rows = clinical_pipeline(
        RandomForestClassifier(10, max_depth=4, random_state=0)
    )
    explainer = tabular.Explainer(pipe, background.iloc[:50])
    kw = dict(target=1, batch_size=40, show_progress=False)
    local = explainer.global_importance(rows, **kw)
    remote = explainer.global_importance(rows, engine="ray", **kw)
    assert torch.equal(local.attributions, remote.attributions)
    assert local.to_frame().equals(remote.to_frame())
    pytest.importorskip("skimage")
    from perspicio import vision

    images = torch.rand(6, 3, 16, 16, generator=torch.Generator().manual_seed(0))
    cnn = nn.Sequential(nn.Conv2d(3, 4, 3), nn.ReLU(), nn.Flatten(), nn.Linear(4 * 14 * 14, 3))
    args = dict(method="integrated_gradients", batch_size=2, show_progress=False)
    local = vision.explain_dataset(cnn.eval(), images, output=tmp_path / "a", **args)
    remote = vision.explain_dataset(cnn, images, output=tmp_path / "b", engine="ray", **args)
    assert np.allclose(remote.reducers["mean_abs"], local.reducers["mean_abs"], atol=1e-7)


@pytest.mark.cuda
@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA device")
def test_gpu_actors_share_a_gpu_and_equal_the_local_engine():
    from perspicio.core import IntegratedGradients

    def build():  # runs in each actor: .cuda() fails there unless Ray gave it a GPU
        torch.manual_seed(0)
        net = nn.Sequential(nn.Linear(6, 64), nn.Tanh(), nn.Linear(64, 2)).cuda().eval()
        return IntegratedGradients(net)

    kw = dict(batch_size=500, target=1, show_progress=False)
    local = attribute_dataset(build, ROWS, **kw)
    remote = attribute_dataset(build, ROWS, engine="ray", concurrency=2, num_gpus=0.5, **kw)
    assert np.allclose(remote.reducers["mean_abs"], local.reducers["mean_abs"], atol=1e-6)


class WhereAmI:
    """A stand-in method: 1 for each row attributed on a GPU, 0 on the CPU."""

    def __init__(self):
        self.forward_func = nn.Linear(6, 1)  # built on the CPU, as a user's factory may

    def attribute(self, inputs, target=None):
        on_gpu = next(self.forward_func.parameters()).is_cuda and inputs.is_cuda
        return torch.full((len(inputs), 1), float(on_gpu))


def test_gpus_per_actor():
    from perspicio.core.dataset.ray_engine import gpus_per_actor

    assert gpus_per_actor(0.5, 2) == 0.5
    gpus = ray.cluster_resources().get("GPU", 0)
    assert gpus_per_actor("auto", 2) == (min(1.0, gpus / 2) if gpus else 0.0)
    for bad in (-1, "all", True):
        with pytest.raises(ValueError, match="num_gpus"):
            attribute_dataset(WhereAmI, ROWS[:4], engine="ray", num_gpus=bad, show_progress=False)
    with pytest.raises(ValueError, match="concurrency"):
        attribute_dataset(WhereAmI, ROWS[:4], engine="ray", concurrency=0, show_progress=False)
    kw = dict(batch_size=10, engine="ray", reducers=("mean",), show_progress=False)
    auto = attribute_dataset(WhereAmI, ROWS[:40], num_gpus="auto", **kw)
    assert auto.reducers["mean"][0] == (1.0 if gpus else 0.0)  # the GPU when there is one
    before = ray.data.DataContext.get_current().enable_progress_bars
    assert attribute_dataset(WhereAmI, ROWS[:40], **kw).reducers["mean"][0] == 0.0  # default
    assert ray.data.DataContext.get_current().enable_progress_bars == before  # left as found


def _self_influence_factory(folder):
    from perspicio.core.influence import SelfInfluence, TracInCP

    def factory():
        torch.manual_seed(0)
        net = nn.Sequential(nn.Linear(6, 16), nn.Tanh(), nn.Linear(16, 2))
        return SelfInfluence(
            TracInCP(
                net,
                (ROWS[:4], torch.zeros(4, dtype=torch.long)),
                str(folder),
                batch_size=256,
                loss_fn=nn.CrossEntropyLoss(reduction="none"),
            )
        )

    return factory


def test_self_influence_of_a_dataset_is_equal_on_ray_and_locally(tmp_path):
    torch.manual_seed(0)
    net = nn.Sequential(nn.Linear(6, 16), nn.Tanh(), nn.Linear(16, 2))
    (tmp_path / "ckpts").mkdir()
    for i in range(2):
        with torch.no_grad():
            for p in net.parameters():
                p.add_(0.1 * torch.randn_like(p))
        torch.save(net.state_dict(), tmp_path / "ckpts" / f"epoch-{i}.pt")
    labels = (ROWS[:, 0] > 0).long()
    data = torch.utils.data.TensorDataset(ROWS, labels)
    common = dict(target="label", batch_size=600, reducers=("mean",), show_progress=False)
    factory = _self_influence_factory(tmp_path / "ckpts")
    local = attribute_dataset(factory, data, output=tmp_path / "local", **common)
    remote = attribute_dataset(
        factory, data, output=tmp_path / "ray", engine="ray", concurrency=2, **common
    )
    got = np.concatenate([read_shard(tmp_path / "ray" / n) for n in remote.shards])
    expected = np.concatenate([read_shard(tmp_path / "local" / n) for n in local.shards])
    assert np.array_equal(got, expected) and got.shape == (3000,)
    direct = factory().method.self_influence((ROWS, labels))
    np.testing.assert_allclose(expected, direct.numpy(), rtol=1e-5, atol=1e-7)
