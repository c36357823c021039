"""Checks a user runs over their own attribution method, as the project runs them over its own.

:func:`check_attribution` runs the invariant suite (the checks every registered method of
perspicio passes, :data:`CHECKS`) over any method: shapes, dtypes and devices; the model and
the inputs left as found; tuples in, tuples out; a caller's ``no_grad`` block changing
nothing; a row's result not depending on the other rows of the batch; reproducible with a
seed; an empty batch refused with one clear error; an error inside the model leaving nothing
behind; the same numbers on CUDA. It plays the part of scikit-learn's
``parametrize_with_checks``: give it a function building the method from a model, and mark
the checks your method fails by design in ``known_failures``.

The models are small seeded torch networks (a convnet on ``3 x 8 x 8`` images, a net with
two inputs), built here so the checks run anywhere without data.
"""

from __future__ import annotations

import inspect
import math
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import torch
from torch import nn

from .attribution import Attribution
from .noise_tunnel import NoiseTunnel
from .registry import Facts, MethodSpec, get_spec, instantiate, prepare, spec_of

__all__ = ["CHECKS", "check_attribution", "method_under_test", "registered_maker"]


# ------------------------------------------------------------------ the check models
def _cnn(seed: int = 0, pool: bool = True) -> nn.Module:
    """A small convnet; without max pooling it uses average pooling."""
    torch.manual_seed(seed)
    return nn.Sequential(
        nn.Conv2d(3, 6, 3, padding=1),
        nn.ReLU(),
        nn.MaxPool2d(2) if pool else nn.AvgPool2d(2),
        nn.Conv2d(6, 8, 3),
        nn.Sigmoid(),
        nn.Flatten(),
        nn.Linear(8 * 2 * 2, 4),
    ).eval()


class _TwoInputs(nn.Module):
    """Two input tensors."""

    def __init__(self) -> None:
        super().__init__()
        torch.manual_seed(1)
        self.a = nn.Linear(4, 8)
        self.b = nn.Linear(3, 8)
        self.relu = nn.ReLU()
        self.out = nn.Linear(8, 2)

    def forward(self, x1: torch.Tensor, x2: torch.Tensor) -> torch.Tensor:
        return self.out(self.relu(self.a(x1)) + self.relu(self.b(x2)))


class _Exploding(nn.Module):
    """Raises half-way, before the layer the layer and neuron methods hook (which stop the
    forward pass at their layer, so a later error would never be reached)."""

    def __init__(self) -> None:
        super().__init__()
        self.net = _cnn()

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        self.net[:3](x)
        raise RuntimeError("boom")


def _fingerprint(model: nn.Module) -> dict[str, Any]:
    """Everything an attribution must leave as it found it."""
    return {
        "state": {k: v.clone() for k, v in model.state_dict().items()},
        "training": [m.training for m in model.modules()],
        "requires_grad": [p.requires_grad for p in model.parameters()],
        "grads": [p.grad for p in model.parameters()],
        "hooks": [
            (len(m._forward_hooks), len(m._forward_pre_hooks), len(m._backward_hooks))
            for m in model.modules()
        ],
    }


def _assert_unchanged(model: nn.Module, before: dict[str, Any]) -> None:
    after = _fingerprint(model)
    assert after["training"] == before["training"], "train/eval flags changed"
    assert after["requires_grad"] == before["requires_grad"], "requires_grad changed"
    assert all(g is None for g in after["grads"]) or after["grads"] == before["grads"], (
        "gradients were left on the parameters"
    )
    assert after["hooks"] == before["hooks"], "hooks were left on the model"
    for k, v in before["state"].items():
        assert torch.equal(after["state"][k], v), f"the model's {k} changed"
    assert not torch.overrides._get_current_function_mode_stack(), "a function mode was left on"


class Skip(Exception):
    """A check that does not apply to the method (the reason is the message)."""


# ------------------------------------------------------------------ one method under test
@dataclass
class _Method:
    """What the checks know of the method: how to build it and its spec."""

    make: Callable[..., Attribution]
    spec: MethodSpec
    settings: dict[str, Any]

    def layer(self, model: nn.Module) -> nn.Module:
        """The layer the method works at: the last convolution of the convnet, the first
        linear layer of the two-input net (the CAM methods need a spatial grid)."""
        convs = [m for m in model.modules() if isinstance(m, nn.Conv2d)]
        if convs:
            return convs[-1]
        if self.spec.test.get("layer") == "spatial":
            raise Skip(f"{self.spec.name} needs a convolution layer")
        return next(m for m in model.modules() if isinstance(m, nn.Linear))

    def build(self, model: nn.Module) -> tuple[Attribution, nn.Module | None]:
        required = [
            p
            for p in inspect.signature(self.make).parameters.values()
            if p.kind in (p.POSITIONAL_ONLY, p.POSITIONAL_OR_KEYWORD) and p.default is p.empty
        ]
        takes_layer = len(required) > 1
        layer = self.layer(model) if takes_layer else None
        return (self.make(model, layer) if takes_layer else self.make(model)), layer

    def __call__(self, model: nn.Module, inputs: Any, target: Any = 0) -> Any:
        """Run the method on the facts every check shares (a reference population of three
        rows, five feature groups, a window of 2, a seed), with the small ``settings``."""
        method, layer = self.build(model)
        xs = inputs if isinstance(inputs, tuple) else (inputs,)
        gen = torch.Generator().manual_seed(0)
        population = tuple(
            torch.randn((3,) + x.shape[1:], generator=gen, dtype=x.dtype).to(x.device) for x in xs
        )
        masks = tuple(
            (torch.arange(math.prod(x.shape[1:])) % 5).view((1,) + x.shape[1:]).to(x.device)
            for x in xs
        )
        one = not isinstance(inputs, tuple)
        facts = Facts(
            inputs,
            target=target,
            population=population[0] if one else population,
            feature_mask=masks[0] if one else masks,
            window=2,
            generator=0,
            layer=layer,
            neuron=(0, 1, 1) if isinstance(layer, nn.Conv2d) else 0,
            options=self.settings,
        )
        return prepare(method, None, facts).attribute()


def _inputs(*shape: int, dtype: torch.dtype = torch.float32, seed: int = 0) -> torch.Tensor:
    return torch.randn(shape, generator=torch.Generator().manual_seed(seed), dtype=dtype)


def _parts(attr: Any) -> tuple[torch.Tensor, ...]:
    return tuple(attr) if isinstance(attr, (tuple, list)) else (attr,)


def _check_shape(m: _Method, attr: Any, inputs: Any) -> None:
    """Attributions to the inputs are shaped like them; a layer's have the batch first."""
    xs, attrs = _parts(inputs), _parts(attr)
    if m.spec.attributes_inputs:
        assert len(attrs) == len(xs), f"{len(attrs)} attributions for {len(xs)} inputs"
        for a, x in zip(attrs, xs):
            assert a.shape == x.shape, f"attributions of shape {a.shape} for inputs {x.shape}"
    for a, x in zip(attrs, xs):
        assert a.shape[0] == x.shape[0], f"batch of {a.shape[0]} for {x.shape[0]} examples"
        assert a.dtype == x.dtype, f"attributions in {a.dtype} for inputs in {x.dtype}"
        assert a.device == x.device, f"attributions on {a.device} for inputs on {x.device}"
        assert torch.isfinite(a).all(), "attributions hold NaN or inf"


# ------------------------------------------------------------------ the checks
def _shapes(m: _Method, batch: int) -> None:
    if batch < m.spec.min_batch:
        raise Skip(f"{m.spec.name} takes at least {m.spec.min_batch} examples")
    model = _cnn()
    model.train()  # the mode the user left it in must survive
    model.eval()
    model[0].train()
    before = _fingerprint(model)
    x = _inputs(batch, 3, 8, 8)
    x_copy = x.clone()
    attr = m(model, x)
    assert isinstance(attr, torch.Tensor), f"a tensor in gave {type(attr).__name__} out"
    _check_shape(m, attr, x)
    assert torch.equal(x, x_copy), "the inputs were modified"
    assert not x.requires_grad, "the inputs were left requiring gradients"
    _assert_unchanged(model, before)


def check_shapes_batch_of_one(m: _Method) -> None:
    """One example: attributions shaped like it, same dtype and device; the model (its
    weights, train/eval flags, hooks, gradients) and the inputs left as found."""
    _shapes(m, 1)


def check_shapes_batch_of_four(m: _Method) -> None:
    """The same for four examples."""
    _shapes(m, 4)


def check_tuple_in_tuple_out(m: _Method) -> None:
    """Two float64 inputs in, a tuple of two float64 attributions out."""
    model = _TwoInputs().double().eval()
    xs = (_inputs(3, 4, dtype=torch.float64), _inputs(3, 3, dtype=torch.float64, seed=1))
    attr = m(model, xs, target=1)
    if m.spec.attributes_inputs:
        assert isinstance(attr, tuple) and len(attr) == 2, "a tuple in did not give a tuple out"
    _check_shape(m, attr, xs)


def check_no_grad_block(m: _Method) -> None:
    """Explaining inside ``with torch.no_grad():`` (an evaluation loop) gives the same
    result: a gradient method switches gradients on for its own work."""
    model = _cnn()
    x = _inputs(2, 3, 8, 8)
    expected = m(model, x)
    with torch.no_grad():
        inside = m(model, x)
    for a, b in zip(_parts(expected), _parts(inside)):
        assert torch.allclose(a, b, atol=1e-6), "a caller's no_grad block changed the result"


def check_batch_independence(m: _Method) -> None:
    """A batch of three gives each row what it gives alone (with its own target)."""
    model = _cnn(pool=False)
    x = _inputs(3, 3, 8, 8)
    together = m(model, x, target=[0, 1, 2])
    alone = torch.cat([m(model, x[i : i + 1], target=i) for i in range(3)])
    assert torch.allclose(together, alone, atol=1e-5), (
        "a row's attributions depend on the other rows of the batch"
    )


def check_reproducible(m: _Method) -> None:
    """A sampling method gives the same result twice with the same seed."""
    if not (m.spec.sampling or m.settings.get("nt_samples")):
        raise Skip(f"{m.spec.name} does not sample")
    model = _cnn()
    x = _inputs(3, 3, 8, 8)
    assert torch.equal(m(model, x), m(model, x)), "the same seed gave different results"


def check_empty_batch(m: _Method) -> None:
    """A batch of zero examples is a ValueError naming `inputs` and its shape (never an empty
    result from some methods and a reshape error from others)."""
    model = _cnn()
    before = _fingerprint(model)
    try:
        m(model, torch.randn(0, 3, 8, 8))
    except ValueError as err:
        expected = "`inputs` is an empty batch (shape (0, 3, 8, 8))"
        assert expected in str(err), f"the error does not say {expected!r}: {err}"
    else:
        raise AssertionError("an empty batch raised no ValueError")
    _assert_unchanged(model, before)


def check_error_inside_model(m: _Method) -> None:
    """An error raised inside the model reaches the caller, and leaves the model as found."""
    model = _Exploding().eval()
    before = _fingerprint(model)
    try:
        m(model, _inputs(2, 3, 8, 8))
    except RuntimeError as err:
        assert "boom" in str(err), f"the model's error was replaced by: {err}"
    else:
        raise AssertionError("the model's error was swallowed")
    _assert_unchanged(model, before)


def check_cuda_matches_cpu(m: _Method) -> None:
    """The same numbers on a CUDA device as on the CPU."""
    if not torch.cuda.is_available():
        raise Skip("needs a CUDA device")
    model = _cnn(pool=False)
    x = _inputs(2, 3, 8, 8)
    cpu = m(model, x)
    gpu = m(model.cuda(), x.cuda())
    assert gpu.device.type == "cuda", "the attributions left the model's device"
    assert torch.allclose(cpu, gpu.cpu(), atol=1e-4, rtol=1e-3), "CUDA and CPU results differ"


#: Every check, by name, in the order they run.
CHECKS: dict[str, Callable[[_Method], None]] = {
    "shapes_batch_of_one": check_shapes_batch_of_one,
    "shapes_batch_of_four": check_shapes_batch_of_four,
    "tuple_in_tuple_out": check_tuple_in_tuple_out,
    "no_grad_block": check_no_grad_block,
    "batch_independence": check_batch_independence,
    "reproducible": check_reproducible,
    "empty_batch": check_empty_batch,
    "error_inside_model": check_error_inside_model,
    "cuda_matches_cpu": check_cuda_matches_cpu,
}


# ------------------------------------------------------------------ entry points
def registered_maker(name: str) -> Callable[[nn.Module, Any], Attribution]:
    """``make(model, layer)`` for a registered method (or ``"noise_tunnel:<name>"``), as the
    project's invariant tests build it."""
    tunnel = name.startswith("noise_tunnel:")
    spec = get_spec(name.split(":", 1)[1] if tunnel else name)

    def make(model: nn.Module, layer: Any) -> Attribution:
        init = {}
        if "rules" in inspect.signature(spec.cls.__init__).parameters:
            # the check convnet's Sigmoid has no default LRP rule: pass it through
            from .primary.lrp_rules import IdentityRule

            init["rules"] = {
                m: IdentityRule() for m in model.modules() if isinstance(m, nn.Sigmoid)
            }
        method = instantiate(spec, model, Facts(None, layer=layer), **init)
        return NoiseTunnel(method) if tunnel else method

    return make


def method_under_test(
    make: Callable[..., Attribution] | str,
    settings: dict[str, Any] | None = None,
    spec: MethodSpec | None = None,
) -> _Method:
    """The method as the checks run it: ``method(model, inputs, target=0)`` builds it on
    ``model`` and attributes ``inputs`` on the facts every check shares (see
    :func:`check_attribution` for the arguments)."""
    if isinstance(make, str):
        name = make
        make = registered_maker(name)
        tunnel = name.startswith("noise_tunnel:")
        spec = spec or get_spec(name.split(":", 1)[1] if tunnel else name)
        if tunnel:
            settings = {"nt_samples": 2, "stdevs": 0.1, **(settings or {})}
    elif not callable(make):
        raise TypeError(f"`make` must be a callable model -> Attribution, got {make!r}")
    if spec is None:
        probe, _ = _Method(make, spec_of(Attribution), {}).build(_cnn())
        if not isinstance(probe, Attribution):
            raise TypeError(f"`make` must return an Attribution, got {type(probe).__name__}")
        inner = probe.attribution_method if isinstance(probe, NoiseTunnel) else probe
        spec = spec_of(type(inner))
    if settings is None:
        settings = {k: v for k, v in spec.test.items() if spec.accepts(k)}
    return _Method(make, spec, settings)


def check_attribution(
    make: Callable[..., Attribution] | str,
    *,
    checks: list[str] | tuple[str, ...] | None = None,
    known_failures: dict[str, str] | None = None,
    settings: dict[str, Any] | None = None,
    spec: MethodSpec | None = None,
) -> dict[str, str]:
    """Run the invariant suite over a method; raise ``AssertionError`` naming every check it
    fails that is not a known failure.

    Parameters
    ----------
    make : callable or str
        ``make(model)`` returns the method for ``model`` (an
        :class:`~perspicio.core.Attribution`; a method class itself will do);
        ``make(model, layer)``, two required arguments, for a method that works at a layer
        (it is given the model's last convolution, or first linear layer). A
        registry name (``"noise_tunnel:<name>"`` included) checks a registered method.
    checks : sequence of str, optional
        The names of :data:`CHECKS` to run (default: all).
    known_failures : dict, optional
        ``{check: reason}`` for checks the method fails by design: they run, and a failure
        is reported, not raised (like scikit-learn's expected failed checks). The spec's
        ``test["known_failures"]`` are added.
    settings : dict, optional
        ``attribute`` settings for the checks (small step counts: ``{"n_steps": 8}``);
        default: the spec's ``test`` settings the method accepts.
    spec : MethodSpec, optional
        What the method is (its family, whether it samples, the fewest examples it takes);
        default: the registered spec of its class (or of the class it subclasses), else one
        read from its base class and ``attribute`` signature.

    Returns
    -------
    dict
        ``{check: "passed" | "skipped: <why>" | "known failure: <reason>" | "failed: <what>"}``.

    Examples
    --------
    >>> import torch
    >>> from perspicio.core import Saliency
    >>> from perspicio.core.testing import check_attribution
    >>> class SignedGradient(Saliency):
    ...     def attribute(self, inputs, target=None, additional_forward_args=None):
    ...         return super().attribute(inputs, target, abs=False,
    ...                                  additional_forward_args=additional_forward_args)
    >>> report = check_attribution(SignedGradient)
    >>> report["batch_independence"], report["reproducible"]
    ('passed', 'skipped: SignedGradient does not sample')
    """
    method = method_under_test(make, settings=settings, spec=spec)
    spec = method.spec
    if "skip" in spec.test:
        return {check: f"skipped: {spec.test['skip']}" for check in (checks or CHECKS)}
    unknown = [c for c in (checks or ()) if c not in CHECKS]
    if unknown:
        raise ValueError(f"`checks`: unknown {unknown}; known: {list(CHECKS)}")
    known = {**spec.test.get("known_failures", {}), **(known_failures or {})}
    report, failed = {}, []
    for check in checks or CHECKS:
        try:
            CHECKS[check](method)
        except Skip as why:
            report[check] = f"skipped: {why}"
        except Exception as err:  # noqa: BLE001 - every failure is reported by name
            what = f"{type(err).__name__}: {err}"
            if check in known:
                report[check] = f"known failure: {known[check]}"
            else:
                report[check] = f"failed: {what}"
                failed.append(f"{check}: {what}")
        else:
            report[check] = "passed"
    if failed:
        raise AssertionError(f"{spec.name} fails " + "; ".join(failed))
    return report
