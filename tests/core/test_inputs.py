import pytest
import torch

from perspicio.core import IntegratedGradients, Saliency
from perspicio.core._engine.inputs import (
    as_tuple,
    expand_additional_args,
    format_baseline_distribution,
    format_baselines,
    format_target,
)


def test_as_tuple_forms_and_errors():
    x = torch.zeros(2, 3)
    assert as_tuple(x) == ((x,), False)
    assert as_tuple((x, x))[1] is True
    with pytest.raises(TypeError, match="element 1 is list"):
        as_tuple((x, [1, 2]))
    with pytest.raises(ValueError, match="same batch size"):
        as_tuple((x, torch.zeros(3, 3)))
    with pytest.raises(ValueError, match="0-dim"):
        as_tuple(torch.tensor(1.0))


def test_baselines_broadcast_forms():
    x = torch.randn(4, 2, 3)
    for b in (None, 0.5, torch.ones(2, 3), torch.ones(1, 2, 3), torch.ones(4, 2, 3)):
        (out,) = format_baselines(b, (x,))
        assert out.shape == x.shape
    with pytest.raises(ValueError, match=r"baselines\[0\]` has shape \(5, 3\)"):
        format_baselines(torch.ones(5, 3), (x,))
    with pytest.raises(ValueError, match="2 element"):
        format_baselines((0.0, 0.0), (x,))
    with pytest.raises(TypeError, match="number or a tensor"):
        format_baselines("zero", (x,))


def test_baseline_distribution():
    x = torch.randn(4, 3)
    (d,) = format_baseline_distribution(torch.randn(7, 3), (x,))
    assert d.shape == (7, 3)
    (d,) = format_baseline_distribution(lambda x: x * 0, (x,))
    assert d.shape == (4, 3)
    with pytest.raises(ValueError, match=r"expected \(B,\) \+ \(3,\)"):
        format_baseline_distribution(torch.randn(7, 4), (x,))


def test_target_forms_select_the_right_values():
    out = torch.arange(24.0).reshape(4, 6)
    assert torch.equal(format_target(2, 4).select(out), out[:, 2])
    assert torch.equal(format_target([0, 1, 2, 3], 4).select(out), out.diagonal())
    assert torch.equal(
        format_target(torch.tensor([5, 4, 3, 2]), 4).select(out), out[range(4), [5, 4, 3, 2]]
    )
    assert torch.equal(format_target(lambda o: o[:, :2].sum(1), 4).select(out), out[:, :2].sum(1))
    out3 = torch.arange(24.0).reshape(2, 3, 4)
    assert torch.equal(format_target((1, 2), 2).select(out3), out3[:, 1, 2])
    assert torch.equal(
        format_target([(0, 1), (2, 3)], 2).select(out3), torch.stack([out3[0, 0, 1], out3[1, 2, 3]])
    )
    # expanded per-example targets follow the block layout of replicated batches
    assert (
        format_target([0, 1, 2, 3], 4).expand(3).per_example.squeeze(1).tolist() == [0, 1, 2, 3] * 3
    )


def test_target_errors():
    out = torch.zeros(4, 6)
    with pytest.raises(ValueError, match="index 6 is out of range"):
        format_target(6, 4).select(out)
    with pytest.raises(ValueError, match="3 entries but the batch has 4"):
        format_target([0, 1, 2], 4)
    with pytest.raises(ValueError, match="target` is None but the model returns 6 values"):
        format_target(None, 4).select(out)
    with pytest.raises(TypeError, match="integer indices"):
        format_target(torch.tensor([0.5] * 4), 4)
    with pytest.raises(TypeError):
        format_target("cat", 4)


def test_additional_args_expand_only_batch_tensors():
    a, other = torch.arange(3.0).unsqueeze(1), torch.zeros(5)
    out = expand_additional_args((a, other, "x"), n=3, times=2)
    assert out[0].squeeze(1).tolist() == [0, 1, 2, 0, 1, 2]
    assert out[1] is other and out[2] == "x"


def test_entry_points_raise_named_errors(mlp):
    with pytest.raises(TypeError, match="dtype torch.int64"):
        Saliency(mlp).attribute(torch.zeros(2, 6, dtype=torch.long), target=0)
    with pytest.raises(ValueError, match="n_steps"):
        IntegratedGradients(mlp).attribute(torch.zeros(2, 6), target=0, n_steps=0)
    with pytest.raises(ValueError, match="method"):
        IntegratedGradients(mlp).attribute(torch.zeros(2, 6), target=0, method="simpson")
    with pytest.raises(ValueError, match="internal_batch_size"):
        IntegratedGradients(mlp).attribute(torch.zeros(2, 6), target=0, internal_batch_size=0)
    with pytest.raises(TypeError, match="forward_func"):
        Saliency(42)
