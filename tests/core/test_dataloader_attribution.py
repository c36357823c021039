"""DataLoaderAttribution: feature ablation of a metric over a whole dataset."""

import pytest
import torch
from torch import nn
from torch.utils.data import DataLoader, TensorDataset

from perspicio.core import DataLoaderAttribution, FeatureAblation, InputRole, Saliency


def test_the_default_metric_is_feature_ablation_of_every_batch():
    torch.manual_seed(0)
    net = nn.Sequential(nn.Linear(4, 8), nn.Tanh(), nn.Linear(8, 1))
    x = torch.randn(9, 4)
    loader = DataLoader(TensorDataset(x), batch_size=4)
    dl = DataLoaderAttribution(FeatureAblation(net)).attribute(loader, perturbations_per_pass=3)
    expected = FeatureAblation(net).attribute(x)
    assert isinstance(dl, tuple) and torch.allclose(dl[0], expected, atol=1e-6)


def test_a_metric_over_the_dataset_with_labels_only_for_the_metric():
    """Mean squared error over the data: labels reach `reduce`, never the model."""
    torch.manual_seed(1)
    net = nn.Linear(3, 1)
    x, y = torch.randn(12, 3), torch.randn(12, 1)
    loader = DataLoader(TensorDataset(x, y), batch_size=5)

    def reduce(acc, out, batch):
        err = ((out - batch[1]) ** 2).sum()
        return err if acc is None else acc + err

    attr = DataLoaderAttribution(FeatureAblation(net)).attribute(
        loader,
        input_roles=[InputRole.need_attr, InputRole.no_forward],
        reduce=reduce,
        to_metric=lambda total: total / len(x),
        return_input_shape=False,
    )
    with torch.no_grad():
        base = ((net(x) - y) ** 2).mean()
        expected = torch.stack(
            [
                base - ((net(x.index_fill(1, torch.tensor([j]), 0.0)) - y) ** 2).mean()
                for j in range(3)
            ]
        )
    assert attr.shape == (1, 3) and torch.allclose(attr[0], expected, atol=1e-5)


def test_bad_arguments_are_named():
    net = nn.Linear(2, 1)
    loader = DataLoader(TensorDataset(torch.randn(4, 2)), batch_size=2)
    with pytest.raises(TypeError, match="`attr_method`"):
        DataLoaderAttribution(Saliency(net))
    with pytest.raises(ValueError, match="`input_roles`"):
        DataLoaderAttribution(FeatureAblation(net)).attribute(loader, input_roles=[0, 1])
    with pytest.raises(NotImplementedError):
        DataLoaderAttribution(FeatureAblation(net)).attribute_future(loader)
    for bad in (0, -1, 1.5, "auto", True):
        with pytest.raises(ValueError, match="`perturbations_per_pass` must be a positive int"):
            DataLoaderAttribution(FeatureAblation(net)).attribute(
                loader, perturbations_per_pass=bad
            )


@pytest.mark.parametrize("per_pass", [1, 2, 5, 50])
def test_answers_do_not_depend_on_perturbations_per_pass(per_pass):
    """Feature groups with per-example baselines: the groups ablated together in one pass
    give the same metric as one group a pass."""
    torch.manual_seed(2)
    net = nn.Sequential(nn.Linear(6, 5), nn.ReLU(), nn.Linear(5, 2))
    x = torch.randn(8, 6)
    loader = DataLoader(TensorDataset(x), batch_size=8)
    mask = torch.tensor([[0, 0, 1, 2, 2, 3]])
    base = x.mean(0, keepdim=True)
    kwargs = {"feature_mask": mask, "baselines": base, "to_metric": lambda o: o.mean(0)}
    one = DataLoaderAttribution(FeatureAblation(net)).attribute(loader, **kwargs)
    many = DataLoaderAttribution(FeatureAblation(net)).attribute(
        loader, perturbations_per_pass=per_pass, **kwargs
    )
    expected = FeatureAblation(net).attribute(x, baselines=base, feature_mask=mask, target=1)
    torch.testing.assert_close(many[0], one[0])
    torch.testing.assert_close(one[0][1], expected.mean(0))
