"""Compare attacks: a metric of the model's output on the original inputs and on each
attack's perturbations, per batch and summarised over every batch evaluated."""

from __future__ import annotations

from collections import namedtuple
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import torch
from torch import Tensor

from .._engine.batching import Layout
from .._engine.inputs import check_positive_int, format_additional_args
from ..errors import AttributionTypeError, AttributionValueError
from ._batches import check_per_eval, copies_per_call, evaluate

ORIGINAL_KEY = "Original"


@dataclass
class _Attack:
    attack_fn: Callable
    name: str
    num_attempts: int
    apply_before_preproc: bool
    attack_kwargs: dict
    additional_args: list


def _as_float(value: Any) -> Tensor:
    t = torch.as_tensor(value)
    return t if t.is_floating_point() else t.float()


class _Results:
    """Metric values of one key: kept as flat lists of tensors with the structure of the
    metric's result (a value, a tuple or a named tuple) to rebuild the summaries."""

    def __init__(self) -> None:
        self.values: list[list[Tensor]] = []
        self.form: Callable[[list[Tensor]], Any] | None = None

    def add(self, result: Any) -> None:
        if isinstance(result, tuple):
            parts = [_as_float(r) for r in result]
            if self.form is None:
                kind = type(result)
                if hasattr(result, "_fields"):  # a named tuple: rebuilt with its fields
                    kind = namedtuple(kind.__name__, result._fields)  # type: ignore[misc]
                    self.form = lambda vs, kind=kind: kind(*vs)
                else:
                    self.form = tuple
        else:
            parts = [_as_float(result)]
            if self.form is None:
                self.form = lambda vs: vs[0]
        self.values.append([p.detach() for p in parts])

    def stat(self, name: str) -> Any:
        stacked = [torch.stack(column) for column in zip(*self.values)]
        reduce = {
            "mean": lambda t: t.mean(0),
            "min": lambda t: t.min(0).values,
            "max": lambda t: t.max(0).values,
        }[name]
        return self.form([reduce(t) for t in stacked])


def _batch_mean(value: Any) -> Any:
    """The mean over the batch of a metric result (each tensor's first dimension)."""
    if isinstance(value, tuple):
        means = [_batch_mean(v) for v in value]
        return type(value)(*means) if hasattr(value, "_fields") else tuple(means)
    if isinstance(value, Tensor) and value.dim() > 0:
        return value.mean(0)
    return value


class AttackComparator:
    r"""Evaluate ``metric(model_output, **kwargs)`` on the original inputs and on the
    outputs for each added attack (``num_attempts`` draws of a random attack), batch by
    batch.

    :meth:`evaluate` returns, for one batch, the metric on the original inputs and per
    attack its mean over the attempts (with ``min`` and ``max`` when there are several);
    :meth:`summary` returns the mean over every batch evaluated so far of the batch mean of
    each of these (keys ``"<name> Mean Attempt"``, ``"<name> Min Attempt"``, ``"<name> Max
    Attempt"`` for attacks with several attempts).

    Parameters
    ----------
    forward_func : callable
        The model.
    metric : callable
        ``metric(model_out, **kwargs)``: a tensor, a float or a (named) tuple of them, where
        ``kwargs`` are the keyword arguments given to :meth:`evaluate`.
    preproc_fn : callable, optional
        Turns the inputs given to :meth:`evaluate` into the model's inputs (e.g. text into
        token ids). An attack runs before it or after it (``apply_before_preproc``).

    Examples
    --------
    >>> import torch
    >>> from perspicio.core.robust import FGSM
    >>> net = torch.nn.Linear(4, 3)
    >>> def accuracy(out, target):
    ...     return (out.argmax(1) == target).float()
    >>> comparator = AttackComparator(net, accuracy)
    >>> comparator.add_attack(FGSM(net), attack_kwargs={"epsilon": 0.1},
    ...                       additional_attack_arg_names=["target"])
    >>> comparator.add_attack(lambda x: x + 0.1 * torch.randn_like(x), name="noise",
    ...                       num_attempts=5)
    >>> results = comparator.evaluate(torch.randn(8, 4), target=0)
    >>> sorted(results), sorted(results["noise"])
    (['FGSM', 'Original', 'noise'], ['max', 'mean', 'min'])
    """

    def __init__(
        self, forward_func: Callable, metric: Callable, preproc_fn: Callable | None = None
    ) -> None:
        for name, fn in (("forward_func", forward_func), ("metric", metric)):
            if not callable(fn):
                raise AttributionTypeError(f"`{name}` must be callable, got {type(fn).__name__}")
        if preproc_fn is not None and not callable(preproc_fn):
            raise AttributionTypeError(
                f"`preproc_fn` must be callable or None, got {type(preproc_fn).__name__}"
            )
        self.forward_func = forward_func
        self.metric = metric
        self.preproc_fn = preproc_fn
        self.attacks: dict[str, _Attack] = {}
        self.summary_results: dict[str, _Results] = {}

    def add_attack(
        self,
        attack: Callable,
        name: str | None = None,
        num_attempts: int = 1,
        apply_before_preproc: bool = True,
        attack_kwargs: dict[str, Any] | None = None,
        additional_attack_arg_names: list[str] | None = None,
    ) -> None:
        """Add an attack: a :class:`Perturbation` or any callable ``attack(inputs, **kw)``.

        ``name`` defaults to the attack's class name; ``attack_kwargs`` are passed on every
        call, and the keyword arguments of :meth:`evaluate` named in
        ``additional_attack_arg_names`` (e.g. ``target``) too. An attack with randomness is
        drawn ``num_attempts`` times.
        """
        if not callable(attack):
            raise AttributionTypeError(f"`attack` must be callable, got {type(attack).__name__}")
        if name is None:
            name = type(attack).__name__
        if name in self.attacks or name == ORIGINAL_KEY:
            raise AttributionValueError(
                f"an attack named {name!r} was already added (or is reserved); pass another `name`"
            )
        check_positive_int(num_attempts, "num_attempts")
        self.attacks[name] = _Attack(
            attack,
            name,
            num_attempts,
            apply_before_preproc,
            dict(attack_kwargs or {}),
            list(additional_attack_arg_names or []),
        )

    def _perturbed(self, attack: _Attack, inputs: Any, preproc_input: Any, kwargs: dict) -> Any:
        extra = {k: kwargs[k] for k in attack.additional_args if k in kwargs}
        if attack.apply_before_preproc:
            attacked = attack.attack_fn(inputs, **extra, **attack.attack_kwargs)
            return self.preproc_fn(attacked) if self.preproc_fn is not None else attacked
        return attack.attack_fn(preproc_input, **extra, **attack.attack_kwargs)

    def evaluate(
        self,
        inputs: Any,
        additional_forward_args: Any = None,
        perturbations_per_eval: int | None = 1,
        **kwargs: Any,
    ) -> dict[str, Any]:
        """The metric on ``inputs`` and on each attack's perturbations of them.

        Parameters
        ----------
        inputs : any
            The batch (what ``preproc_fn`` takes, or the model's inputs).
        additional_forward_args : any, optional
            Further arguments of the model.
        perturbations_per_eval : int or None, default 1
            How many perturbed copies of the batch one model call evaluates; ``None``
            chooses as many as fit the memory budget. The results do not depend on it.
        **kwargs
            Passed to ``metric`` (and to the attacks that name them).

        Returns
        -------
        dict
            ``{"Original": value, name: {"mean": value[, "min": ..., "max": ...]}}``.
        """
        per_eval = check_per_eval(perturbations_per_eval)
        for attack in self.attacks.values():
            missing = [k for k in attack.additional_args if k not in kwargs]
            if missing:
                raise AttributionValueError(
                    f"attack {attack.name!r} needs the keyword argument(s) {missing} of "
                    "`evaluate` (its `additional_attack_arg_names`), which were not given"
                )
        args = format_additional_args(additional_forward_args)
        preproc_input = self.preproc_fn(inputs) if self.preproc_fn is not None else inputs
        batch: dict[str, _Results] = {ORIGINAL_KEY: _Results()}
        size = copies_per_call(self.forward_func, preproc_input, args, per_eval)
        pending: list[tuple[str, Any]] = [(ORIGINAL_KEY, preproc_input)]
        layout = Layout()

        def flush() -> None:
            outputs = evaluate(self.forward_func, [item for _, item in pending], args, layout)
            for (key, _), out in zip(pending, outputs):
                batch[key].add(self.metric(out, **kwargs))
            pending.clear()

        with torch.no_grad():
            if len(pending) >= size:
                flush()
            for attack in self.attacks.values():
                batch[attack.name] = _Results()
                for _ in range(attack.num_attempts):
                    with torch.enable_grad():  # gradient attacks need it
                        item = self._perturbed(attack, inputs, preproc_input, kwargs)
                    pending.append((attack.name, item))
                    if len(pending) >= size:
                        flush()
            if pending:
                flush()
        return self._record(batch)

    def _record(self, batch: dict[str, _Results]) -> dict[str, Any]:
        results: dict[str, Any] = {ORIGINAL_KEY: batch[ORIGINAL_KEY].stat("mean")}
        self._summarise(ORIGINAL_KEY, results[ORIGINAL_KEY])
        for attack in self.attacks.values():
            stats = ("mean", "min", "max") if attack.num_attempts > 1 else ("mean",)
            results[attack.name] = {s: batch[attack.name].stat(s) for s in stats}
            for s in stats:
                key = attack.name if len(stats) == 1 else f"{attack.name} {s.title()} Attempt"
                self._summarise(key, results[attack.name][s])
        return results

    def _summarise(self, key: str, value: Any) -> None:
        self.summary_results.setdefault(key, _Results()).add(_batch_mean(value))

    def summary(self) -> dict[str, dict[str, Any]]:
        """The mean over every batch evaluated (since :meth:`reset`) of each result's batch
        mean: ``{key: {"mean": value}}``."""
        return {key: {"mean": r.stat("mean")} for key, r in self.summary_results.items()}

    def reset(self) -> None:
        """Forget the batches evaluated so far (the attacks stay)."""
        self.summary_results = {}
