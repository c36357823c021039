"""What every page of the app shares: the demo models (loaded once per process), the one
"run and show an explanation" helper, and the pictures and downloads of an explanation.

A page states its inputs with widgets and calls :func:`run_and_show` with a function that
computes its explanations; the helper owns the button, the session state, the error message
and the drawing, so every page behaves the same way. Uploads go through :func:`file_upload`
(perspicio's own size caps) and what is built from them is kept by :func:`session_cached`
(this visitor's session only, a few entries).
"""

from __future__ import annotations

import inspect
import json
import os
import threading
from collections import OrderedDict
from collections.abc import Callable, Hashable
from typing import Any, TypeVar

import streamlit as st

from perspicio.core import targets
from perspicio.core.page import html_page, png_bytes
from perspicio.demos import DEMOS, load_demo
from perspicio.models import MAX_UPLOAD_MB, TRUST_TORCHSCRIPT_ENV, check_upload_size
from perspicio.vision.targets import parse_box as parse_box  # the image page's box field

T = TypeVar("T")

#: perspicio's own cap on an upload, in MB, by what it is (below Streamlit's server-wide
#: ``server.maxUploadSize``, 200 MB by default, which the operator sets)
UPLOAD_LIMITS_MB = {"image": 20, "table": 50, "model": MAX_UPLOAD_MB}
#: how many results built from uploads one session keeps, per kind (least recently used first out)
SESSION_CACHE_ENTRIES = 4


# -------------------------------------------------------------------- uploads
def trust_torchscript() -> bool:
    """Whether whoever started the app let it load uploaded TorchScript (``perspicio app
    --trust-torchscript`` sets the environment variable); visitors cannot change it."""
    return os.environ.get(TRUST_TORCHSCRIPT_ENV, "0") == "1"


def file_upload(label: str, kind: str, *, type: list[str], key: str) -> Any:
    """``st.file_uploader`` under perspicio's cap for ``kind`` (a key of
    :data:`UPLOAD_LIMITS_MB`): a larger file is refused with a message on the page, which
    stops there. Returns the upload or None."""
    limit = UPLOAD_LIMITS_MB[kind]
    if _uploader_takes_a_cap():  # the browser says and checks the cap too
        upload = st.file_uploader(label, type=type, key=key, max_upload_size=limit)
    else:
        upload = st.file_uploader(f"{label} (at most {limit} MB)", type=type, key=key)
    if upload is None:
        return None
    try:
        check_upload_size(upload.size, limit, upload.name)
    except ValueError as err:
        st.error(str(err))
        st.stop()
    return upload


def _uploader_takes_a_cap() -> bool:
    """Whether this Streamlit's file_uploader takes ``max_upload_size`` (newer ones do)."""
    return "max_upload_size" in inspect.signature(st.file_uploader).parameters


def session_cached(name: str, key: Hashable, build: Callable[[], T]) -> T:
    """``build()``'s result, kept in this visitor's session under ``name`` and ``key`` (say,
    a hash of the uploaded file): at most :data:`SESSION_CACHE_ENTRIES` per ``name``, the
    least recently used dropped first, and nothing shared with other sessions. A failing
    ``build`` keeps nothing."""
    cache = st.session_state.setdefault(f"_cache_{name}", OrderedDict())
    if key in cache:
        cache.move_to_end(key)
        return cache[key]
    value = build()
    cache[key] = value
    while len(cache) > SESSION_CACHE_ENTRIES:
        cache.popitem(last=False)
    return value


# ----------------------------------------------------------------- demo models
#: demo models load one at a time: two sessions loading different demos at once would import
#: transformers' lazily loaded classes from two threads (which can fail with an ImportError
#: of a class that exists), and a demo trained on first use sets torch's thread count for the
#: process while it trains; explaining is never serialised
_LOADING = threading.RLock()


def _loaded(name: str) -> Any:
    with _LOADING:
        return load_demo(name)


@st.cache_resource(show_spinner=DEMOS["efficientnet_lite0"].loading)
def image_demo():
    return _loaded("efficientnet_lite0")


@st.cache_resource(show_spinner="Preparing the shapes detector and segmenter (trained once)...")
def scene_demos():
    """The shapes detector and segmenter, trained here on generated scenes, by title:
    ``(model, class names)``."""
    return {DEMOS[name].title: _loaded(name) for name in ("shapes_detector", "shapes_segmenter")}


@st.cache_resource(show_spinner=DEMOS["shapes_clip"].loading)
def caption_demo():
    """``(model, tokenizer)``: the shapes dual encoder, whose targets are captions."""
    return _loaded("shapes_clip")


@st.cache_resource(show_spinner=DEMOS["minilm"].loading)
def text_demo():
    """``(model, tokenizer, description)``: MiniLM, or offline without its snippets the tiny
    BERT."""
    try:
        return _loaded("minilm")
    except Exception:  # noqa: BLE001 - offline without the snippets: the small model
        return _loaded("tiny")


@st.cache_resource(show_spinner=DEMOS["breast_cancer"].loading)
def table_demo():
    return _loaded("breast_cancer")


@st.cache_resource(show_spinner=DEMOS["shapes_vlm"].loading)
def vlm_demo():
    """``(model, processor)``: the shapes vision-language model."""
    return _loaded("shapes_vlm")


@st.cache_resource(show_spinner=DEMOS["capital_cities"].loading)
def generation_demo():
    return _loaded("capital_cities")


# ------------------------------------------------------------------- showing
def png(fig: Any) -> bytes:
    """A matplotlib figure as PNG bytes, at the app's resolution."""
    return png_bytes(fig, dpi=90)


def show_explanation(exp: Any, key: str, picture: bytes | None = None) -> None:
    """One explanation: its summary, its figure, and downloads of the figure, the HTML view
    and the manifest (the same for every modality)."""
    picture = picture if picture is not None else png(exp.plot())
    st.image(picture, caption=exp.method)
    st.caption(exp.summary)
    left, middle, right = st.columns(3)
    left.download_button("PNG", picture, f"{exp.method}.png", "image/png", key=f"png_{key}")
    page = html_page(exp.to_html(), title=f"perspicio: {exp.method}")
    middle.download_button("HTML", page, f"{exp.method}.html", "text/html", key=f"html_{key}")
    right.download_button(
        "manifest",
        json.dumps(exp.manifest(), indent=2),
        f"{exp.method}.json",
        "application/json",
        key=f"json_{key}",
    )


def score_table(table: Any) -> Any:
    """A comparison table (:func:`perspicio.core.metrics.compare_methods`' and the front
    ends') for the page: each column named with its direction, a column a reference wins
    marked."""
    better = {True: "higher is better", False: "lower is better"}
    wins = set(table.attrs.get("reference_wins", ()))
    return table.rename(
        columns={
            m: f"{m} ({better[h]}){' - a reference wins' if m in wins else ''}"
            for m, h in table.attrs["higher_is_better"].items()
        }
    )


def show_scores(table: Any) -> None:
    """The comparison table with a note on the references."""
    st.dataframe(score_table(table))
    st.caption(
        "The random and constant references know nothing: a metric they win says nothing "
        "about the methods."
    )


def run_and_show(
    key: str,
    compute: Callable[[], Any],
    show: Callable[[Any], None],
    *,
    button: str = "Explain",
    where: Any = None,
) -> None:
    """A primary button that runs ``compute()``; its result is kept in the session under
    ``key`` (so the page can be redrawn) and drawn by ``show`` (inside ``where`` if given).
    An error is shown on the page, the stale result dropped, and the app keeps running."""
    if st.button(button, key=key, type="primary"):
        try:
            st.session_state[f"{key}_result"] = compute()
        except Exception as err:  # noqa: BLE001 - shown in the page, the app keeps running
            st.session_state.pop(f"{key}_result", None)
            st.error(f"Could not explain this input: {err}")
            return
    if f"{key}_result" in st.session_state:
        with where if where is not None else st.container():
            show(st.session_state[f"{key}_result"])


def parse_target(target: str, labels: list[str]) -> int | str | None:
    """A target typed by a person: empty (the prediction), a class index or a class name
    (refused here, before any work, where the model has no such class)."""
    chosen = targets.parse_target(target)
    if isinstance(chosen, str):
        targets.resolve_class_targets(chosen, None, labels, rows=None)
    return chosen
