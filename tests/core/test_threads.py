"""Several threads explaining one shared model at once each get exactly their own answer.

The interleaving is forced, not left to luck: the model's ``forward`` waits at a barrier
when it starts and again when it ends, so every thread's layers run while every other
thread is inside a forward pass, with its hooks attached. A hook that acted on another
thread's pass (a layer recorded twice, a layer never seen, a pass cut short) changes that
thread's result or raises.
"""

from __future__ import annotations

import threading

import pytest
import torch
from torch import nn

from ..conftest import assert_unchanged, make_cnn, model_fingerprint
from .test_invariants import NAMES, call

THREADS = 4


class Rendezvous:
    """Barriers the threads meet at: the ``k``-th pass of each thread waits for the ``k``-th
    pass of the others (a thread that runs an extra pass waits ``timeout`` and goes on)."""

    def __init__(self, parties: int, timeout: float = 0.5) -> None:
        self.parties, self.timeout = parties, timeout
        self.on = False
        self._lock = threading.Lock()
        self._barriers: dict[tuple[str, int], threading.Barrier] = {}
        self._count = threading.local()

    def wait(self, phase: str) -> None:
        if not self.on:
            return
        k = getattr(self._count, phase, 0)
        setattr(self._count, phase, k + 1)
        with self._lock:
            barrier = self._barriers.setdefault((phase, k), threading.Barrier(self.parties))
        try:
            barrier.wait(self.timeout)
        except threading.BrokenBarrierError:
            pass


class MeetingCNN(nn.Module):
    """The invariant suite's CNN, meeting the other threads at the start and end of each
    forward pass."""

    def __init__(self, rendezvous: Rendezvous) -> None:
        super().__init__()
        self.net = make_cnn()
        self.rendezvous = rendezvous

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        self.rendezvous.wait("start")
        out = self.net(x)
        self.rendezvous.wait("end")
        return out


def in_threads(work, n: int = THREADS) -> list:
    """``work(i)`` in ``n`` threads at once; the results in order, or the first error."""
    results: list = [None] * n
    errors: list[BaseException] = []

    def run(i: int) -> None:
        try:
            results[i] = work(i)
        except BaseException as err:  # noqa: BLE001 - reported below
            errors.append(err)

    threads = [threading.Thread(target=run, args=(i,)) for i in range(n)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    if errors:
        raise errors[0]
    return results


def as_list(result) -> list[torch.Tensor]:
    return list(result) if isinstance(result, (tuple, list)) else [result]


@pytest.mark.parametrize("name", NAMES)
def test_threads_sharing_a_model_each_get_their_single_thread_answer(name):
    rendezvous = Rendezvous(THREADS)
    model = MeetingCNN(rendezvous).eval()
    before = model_fingerprint(model)
    images = [
        torch.randn(2, 3, 8, 8, generator=torch.Generator().manual_seed(i)) for i in range(THREADS)
    ]
    alone = [call(name, model, x, target=i % 4) for i, x in enumerate(images)]
    rendezvous.on = True
    together = in_threads(lambda i: call(name, model, images[i], target=i % 4))
    rendezvous.on = False
    for i in range(THREADS):
        for a, b in zip(as_list(alone[i]), as_list(together[i])):
            assert torch.equal(a, b), f"thread {i}: {float((a - b).abs().max())}"
    assert_unchanged(model, before)


def test_a_model_in_training_mode_is_restored_once_every_thread_is_done():
    """The first call to enter snapshots the model's flags and the last to leave restores
    them: no call restores the model under another that is still running. The order is
    forced: thread 0 enters first (the model still in training mode) and leaves while the
    others are inside."""
    from perspicio.core import IntegratedGradients
    from perspicio.core._engine.hooks import preserved_state

    model = MeetingCNN(Rendezvous(THREADS)).train()
    entered, left = threading.Event(), threading.Event()
    inside = threading.Barrier(THREADS)
    modes: list[bool] = []

    def explain(i: int) -> torch.Tensor:
        if i > 0:
            entered.wait(10)
        with preserved_state(model):
            model.eval()  # what the front ends do
            entered.set()
            x = torch.randn(1, 3, 8, 8, generator=torch.Generator().manual_seed(i))
            out = IntegratedGradients(model).attribute(x, target=0, n_steps=4)
            inside.wait(10)  # every thread is inside its block
            if i > 0:
                left.wait(10)  # thread 0 has left its block
                modes.append(model.training)
        if i == 0:
            left.set()
        return out

    in_threads(explain)
    assert modes == [False] * (THREADS - 1)  # no thread saw the model put back in training mode
    assert all(m.training for m in model.modules())


def test_a_hook_acts_only_in_the_context_that_attached_it():
    from perspicio.core._engine.hooks import CallHooks

    net = nn.Linear(2, 1)
    seen: list[str] = []
    with CallHooks() as hooks:
        hooks.forward(net, lambda m, a, o: seen.append(threading.current_thread().name))
        net(torch.ones(1, 2))
        other = threading.Thread(target=net, args=(torch.ones(1, 2),), name="other")
        other.start()
        other.join()
    net(torch.ones(1, 2))  # after the block: removed
    assert seen == [threading.current_thread().name]
    assert not net._forward_hooks


@pytest.mark.parametrize("tracer", ["perspicio", "torch.fx"])
def test_tracing_a_model_leaves_other_threads_passes_alone(tracer):
    """The incremental occlusion evaluator traces the model with torch.fx, which patches
    ``nn.Module.__call__`` for the whole process while it traces; another thread's forward
    pass meanwhile must compute its usual output, and the trace must hold only its own."""
    import torch.fx as fx

    from perspicio.core._engine.incremental import trace

    rendezvous = Rendezvous(2, timeout=2.0)
    model = MeetingCNN(rendezvous).eval()
    x = torch.randn(2, 3, 8, 8)
    with torch.no_grad():
        expected = model(x)
    rendezvous.on = True

    def work(i: int):
        if i == 0:
            return trace(model) if tracer == "perspicio" else fx.symbolic_trace(model)
        with torch.no_grad():
            return model(x)

    try:
        graph, out = in_threads(work, 2)
        broken = not torch.equal(out, expected)
    except Exception:  # noqa: BLE001 - torch.fx's tracer may break the other pass outright
        broken = True
    rendezvous.on = False
    # the control: torch.fx's own tracer does disturb the other thread's pass
    assert broken == (tracer == "torch.fx")
    if tracer == "perspicio":
        with torch.no_grad():
            assert torch.equal(graph(x), expected)
        calls = [n.target for n in graph.graph.nodes if n.op == "call_module"]
        assert calls == [f"net.{i}" for i in range(7)]
