"""Where demo models and data are cached, and how a cached artefact is tied to what made it.

Demo models are trained on first use and cached in ``$PERSPICIO_CACHE`` (default
``~/.cache/perspicio``). A cached file is only ever loaded by the code that would have
produced it: its name carries a hash of the training function's source, its settings and
the torch version (:func:`artifact_key`), so editing the training code, its settings or
upgrading torch trains anew instead of silently loading an old model.

Training runs single-threaded with deterministic algorithms (:func:`deterministic`), so a
clean cache gives the same weights whatever the machine's core count.
"""

from __future__ import annotations

import contextlib
import functools
import hashlib
import inspect
import json
import os
import threading
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import torch

#: Every cached artefact's producer, by name (filled by :func:`cached_artifact`).
ARTIFACTS: dict[str, Callable[..., Any]] = {}


def cache_dir() -> Path:
    """``$PERSPICIO_CACHE``, or ``~/.cache/perspicio`` (created when missing)."""
    path = Path(os.environ.get("PERSPICIO_CACHE", Path.home() / ".cache" / "perspicio"))
    path.mkdir(parents=True, exist_ok=True)
    return path


def _source(obj: Any) -> str:
    try:
        return inspect.getsource(obj)
    except (OSError, TypeError):  # no source available (a frozen or built-in object)
        return f"{obj.__module__}.{obj.__qualname__}"


def artifact_key(
    producer: Callable[..., Any], settings: dict[str, Any], depends: tuple[Any, ...] = ()
) -> str:
    """A short hash of the source code of ``producer`` and of the functions and classes it
    ``depends`` on (model classes, data generators), its ``settings`` and torch's version.

    Examples
    --------
    >>> def train(): return 1
    >>> artifact_key(train, {"epochs": 2}) == artifact_key(train, {"epochs": 2})
    True
    >>> artifact_key(train, {"epochs": 2}) == artifact_key(train, {"epochs": 3})
    False
    """
    blob = json.dumps(
        {
            "source": [_source(obj) for obj in (producer, *depends)],
            "settings": settings,
            "torch": torch.__version__.split("+")[0],
        },
        sort_keys=True,
        default=repr,
    )
    return hashlib.sha256(blob.encode()).hexdigest()[:16]


@contextlib.contextmanager
def deterministic() -> Iterator[None]:
    """One thread and deterministic kernels inside the block; the caller's settings after."""
    threads = torch.get_num_threads()
    was_deterministic = torch.are_deterministic_algorithms_enabled()
    warn_only = torch.is_deterministic_algorithms_warn_only_enabled()
    torch.set_num_threads(1)
    torch.use_deterministic_algorithms(True)
    try:
        yield
    finally:
        torch.set_num_threads(threads)
        torch.use_deterministic_algorithms(was_deterministic, warn_only=warn_only)


def _save_atomically(obj: Any, file: Path) -> None:
    tmp = file.with_suffix(f".tmp{os.getpid()}-{threading.get_ident()}")  # per writer
    torch.save(obj, tmp)
    tmp.replace(file)  # atomic: a reader never sees a half-written file


def checkpoint_files(
    producer: Any, states: list[dict[str, Any]], learning_rate: float
) -> list[str]:
    """Checkpoint files of a cached producer's training run, one per state dict, in
    ``<cache_dir>/<artifact file stem>-checkpoints/`` (so they carry the producer's key),
    each ``{"model_state_dict": ..., "learning_rate": ...}``; written once."""
    folder = cache_dir() / f"{producer.path().stem}-checkpoints"
    folder.mkdir(exist_ok=True)
    paths = []
    for i, state in enumerate(states):
        file = folder / f"checkpoint-{i}.pt"
        if not file.exists():
            _save_atomically({"model_state_dict": state, "learning_rate": learning_rate}, file)
        paths.append(str(file))
    return paths


def cached_artifact(
    name: str, depends: tuple[Any, ...] = (), **settings: Any
) -> Callable[[Callable[..., Any]], Any]:
    """Decorate a function that produces a torch-saveable artefact (tensors, state dicts,
    numbers) from ``settings``; calling it loads the cached result or produces and caches it.

    The file is ``<cache_dir>/<name>-<artifact_key>.pt``, loaded with ``weights_only=True``.
    The decorated function runs under :func:`deterministic` with ``settings`` as keyword
    arguments; the wrapper takes ``retrain=True`` to ignore the cache. ``depends`` names the
    functions and classes the producer calls whose code also decides the result (the model
    class, the data generator): their source is part of the key too.

    Examples
    --------
    >>> import tempfile, os
    >>> os.environ["PERSPICIO_CACHE"] = tempfile.mkdtemp()
    >>> @cached_artifact("doc_example", scale=2.0)
    ... def make(scale):
    ...     return {"w": torch.ones(2) * scale}
    >>> make()["w"]
    tensor([2., 2.])
    >>> make.path().name.startswith("doc_example-")
    True
    """

    def wrap(producer: Callable[..., Any]) -> Any:
        key = artifact_key(producer, settings, depends)

        def path() -> Path:
            return cache_dir() / f"{name}-{key}.pt"

        @functools.wraps(producer)
        def load_or_produce(retrain: bool = False) -> Any:
            file = path()
            if file.exists() and not retrain:
                return torch.load(file, map_location="cpu", weights_only=True)
            with deterministic():
                result = producer(**settings)
            _save_atomically(result, file)
            return result

        load_or_produce.path = path
        load_or_produce.key = key
        load_or_produce.settings = dict(settings)
        load_or_produce.depends = tuple(depends)
        ARTIFACTS[name] = load_or_produce
        return load_or_produce

    return wrap
