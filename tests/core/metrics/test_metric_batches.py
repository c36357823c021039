"""Max-sensitivity and infidelity with extra forward arguments and small batches: the
tensors among ``additional_forward_args`` (and targets, baselines) follow the replicated
inputs, ``max_examples_per_batch`` bounds every model call, the chunking changes no number,
and both agree with Captum on the same perturbations."""

from __future__ import annotations

import pytest
import torch
from torch import nn

from perspicio.core import Saliency
from perspicio.core.metrics import infidelity, sensitivity_max

N, SAMPLES = 4, 5


class RowScaled(nn.Module):
    """``tanh(W (x * extra)) * scale``: ``extra`` is per row; records each call's batch size."""

    def __init__(self) -> None:
        super().__init__()
        torch.manual_seed(0)
        self.lin = nn.Linear(5, 3)
        self.batches: list[int] = []

    def forward(self, x, extra, scale=1.0):
        self.batches.append(x.shape[0])
        return torch.tanh(self.lin(x * extra)) * scale


def table_perturbation(x: torch.Tensor, radius: float = 0.3, seed: int = 1):
    """The ``k``-th perturbation of example ``e`` is ``noise[e, k]`` however the examples are
    laid out and chunked (Captum interleaves the copies, perspicio stacks them in blocks):
    each row is matched to its example and counted."""
    noise = radius * torch.rand(
        (x.shape[0], 2 * SAMPLES, x.shape[1]), generator=torch.Generator().manual_seed(seed)
    )
    seen = torch.zeros(x.shape[0], dtype=torch.long)

    def draw(inputs: torch.Tensor) -> torch.Tensor:
        example = (inputs[:, None, :] == x[None]).all(-1).long().argmax(1)
        out = torch.empty_like(inputs)
        for row, e in enumerate(example.tolist()):
            out[row] = noise[e, seen[e]]
            seen[e] += 1
        return out

    return draw


@pytest.fixture
def case():
    torch.manual_seed(0)
    return RowScaled(), torch.randn(N, 5), torch.rand(N, 5) + 0.5


def _sensitivity(net, x, extra, max_examples_per_batch, module=sensitivity_max):
    draw = table_perturbation(x)
    return module(
        Saliency(net).attribute,
        x,
        perturb_func=lambda inputs: inputs + draw(inputs),
        n_perturb_samples=SAMPLES,
        max_examples_per_batch=max_examples_per_batch,
        target=[0, 1, 2, 1],
        additional_forward_args=(extra, 2.0),
    )


@pytest.mark.parametrize("max_examples_per_batch", [None, 1, 2, 3, 4, 8, 12, 100])
def test_sensitivity_replicates_extra_args_and_bounds_every_call(case, max_examples_per_batch):
    net, x, extra = case
    got = _sensitivity(net, x, extra, max_examples_per_batch)
    limit = N * SAMPLES if max_examples_per_batch is None else max_examples_per_batch
    assert max(net.batches) <= limit, net.batches
    # one example at a time, with its own extra row: the same numbers
    alone = torch.cat(
        [
            sensitivity_max(
                Saliency(net).attribute,
                x[i : i + 1],
                perturb_func=_shift_by(x, i),
                n_perturb_samples=SAMPLES,
                target=[[0, 1, 2, 1][i]],
                additional_forward_args=(extra[i : i + 1], 2.0),
            )
            for i in range(N)
        ]
    )
    torch.testing.assert_close(got, alone)
    assert (got > 0).all()


def _shift_by(x: torch.Tensor, i: int):
    """Example ``i``'s perturbations in the table, for a batch that holds only example ``i``."""
    table = table_perturbation(x)

    def perturb(inputs):
        return inputs + table(x[i].expand_as(inputs))

    return perturb


def test_extra_arguments_given_as_a_list_are_arguments_not_examples():
    torch.manual_seed(0)
    net, x, extra = RowScaled(), torch.randn(2, 5), torch.rand(2, 5) + 0.5
    as_list = sensitivity_max(
        Saliency(net).attribute, x, target=0, generator=0, additional_forward_args=[extra, 2.0]
    )
    as_tuple = sensitivity_max(
        Saliency(net).attribute, x, target=0, generator=0, additional_forward_args=(extra, 2.0)
    )
    torch.testing.assert_close(as_list, as_tuple)


def _infidelity(net, x, extra, max_examples_per_batch, module=infidelity):
    draw = table_perturbation(x, radius=0.2)

    def perturb(inputs, baselines):
        noise = draw(inputs)
        return noise, inputs - noise

    attr = Saliency(net).attribute(x, target=[0, 1, 2, 1], additional_forward_args=(extra, 2.0))
    net.batches.clear()
    return module(
        net,
        perturb,
        x,
        attr,
        baselines=0.5 * x,
        target=[0, 1, 2, 1],
        additional_forward_args=(extra, 2.0),
        n_perturb_samples=SAMPLES,
        max_examples_per_batch=max_examples_per_batch,
    )


@pytest.mark.parametrize("max_examples_per_batch", [None, 1, 3, 4, 8, 100])
def test_infidelity_chunks_change_nothing_and_bound_every_call(case, max_examples_per_batch):
    net, x, extra = case
    got = _infidelity(net, x, extra, max_examples_per_batch)
    limit = N * SAMPLES if max_examples_per_batch is None else max_examples_per_batch
    assert max(net.batches) <= limit, net.batches
    torch.testing.assert_close(got, _infidelity(net, x, extra, None))
    assert (got > 0).all()


@pytest.mark.filterwarnings("ignore")
@pytest.mark.parametrize("max_examples_per_batch", [None, 4, 8, 12])
def test_agrees_with_captum_on_the_same_perturbations(case, max_examples_per_batch):
    captum_metrics = pytest.importorskip("captum.metrics")
    net, x, extra = case
    ours = _sensitivity(net, x, extra, max_examples_per_batch)
    theirs = _sensitivity(net, x, extra, max_examples_per_batch, captum_metrics.sensitivity_max)
    torch.testing.assert_close(ours, theirs)
    ours = _infidelity(net, x, extra, max_examples_per_batch)
    theirs = _infidelity(net, x, extra, max_examples_per_batch, captum_metrics.infidelity)
    torch.testing.assert_close(ours, theirs.to(ours.dtype))
