"""perspicio's web app: explain an image, a sentence or a table row, compare methods.

perspicio app          # or: streamlit run apps/app.py
"""

from __future__ import annotations

import io

import streamlit as st
import torch

MAX_UPLOAD_MB = 200
IMAGE_METHODS = [
    "gradcam",
    "integrated_gradients",
    "saliency",
    "occlusion",
    "kernel_shap",
    "gradcam_plus_plus",
    "guided_gradcam",
    "deeplift",
    "lime",
]
TEXT_METHODS = [
    "layer_integrated_gradients",
    "layer_gradient_x_activation",
    "occlusion",
    "kernel_shap",
]
TABLE_METHODS = ["integrated_gradients", "kernel_shap", "deeplift", "feature_ablation"]
GENERATION_METHODS = [
    "feature_ablation",
    "shapley_value_sampling",
    "kernel_shap",
    "layer_integrated_gradients",
]

st.set_page_config(page_title="perspicio", layout="wide")
torch.set_num_threads(2)


@st.cache_resource(show_spinner="Loading EfficientNet-Lite0...")
def image_demo():
    from perspicio.vision.demo import efficientnet_lite0

    return efficientnet_lite0()


@st.cache_resource(
    show_spinner="Preparing the sentiment model (the first time takes a few minutes)..."
)
def text_demo():
    from perspicio.text.demo import minilm_sentiment, tiny_bert

    try:
        model, tokenizer, accuracy = minilm_sentiment()
        return model, tokenizer, f"MiniLM sentiment model ({accuracy:.1%} held-out accuracy)"
    except Exception:  # noqa: BLE001 - offline without the snippets: the small model
        model, tokenizer = tiny_bert()
        return model, tokenizer, "tiny BERT sentiment model (demo)"


@st.cache_resource(show_spinner="Training the breast-cancer model...")
def table_demo():
    from perspicio.tabular.demo import breast_cancer_mlp

    return breast_cancer_mlp()


def png(fig) -> bytes:
    buffer = io.BytesIO()
    fig.savefig(buffer, format="png", dpi=90, bbox_inches="tight")
    return buffer.getvalue()


def load_uploaded_model(upload, architecture):
    """A TorchScript file, or a state dict for the demo architecture (weights_only=True)."""
    data = upload.getvalue()
    if len(data) > MAX_UPLOAD_MB * 2**20:
        raise ValueError(f"the model file is larger than {MAX_UPLOAD_MB} MB")
    try:
        return torch.jit.load(io.BytesIO(data), map_location="cpu").eval()
    except Exception:  # noqa: BLE001 - not TorchScript: try a state dict
        state = torch.load(io.BytesIO(data), map_location="cpu", weights_only=True)
        if not isinstance(state, dict):
            raise ValueError("the file is neither TorchScript nor a state dict") from None
        model = architecture()
        model.load_state_dict(state)
        return model.eval()


def image_tab() -> None:
    from perspicio.vision.demo import SAMPLES, sample_image

    demo = image_demo()
    left, right = st.columns([1, 2])
    with left:
        source = st.radio("Image", ["sample photo", "upload"], horizontal=True, key="img_source")
        if source == "sample photo":
            image = sample_image(st.selectbox("Photo", SAMPLES, key="img_sample"))
        else:
            upload = st.file_uploader(
                "Image file", type=["png", "jpg", "jpeg", "bmp"], key="img_upload"
            )
            if upload is None:
                st.info("Upload an image, or pick a sample photo.")
                return
            from PIL import Image

            try:
                image = Image.open(upload).convert("RGB")
            except Exception:  # noqa: BLE001
                st.error("This file is not an image that can be read.")
                return
        model_file = st.file_uploader(
            "Model (optional): TorchScript, or an EfficientNet-Lite0 state dict",
            type=["pt", "pth"],
            key="img_model",
        )
        methods = st.multiselect(
            "Methods (up to four)",
            IMAGE_METHODS,
            default=["gradcam"],
            max_selections=4,
            key="img_methods",
        )
        baseline = st.selectbox(
            "Baseline", ["black", "blur", "white", "uniform", "mean"], key="img_baseline"
        )
        n_segments = st.slider(
            "Superpixels (perturbation methods)", 10, 100, 40, key="img_segments"
        )
        n_steps = st.slider("Steps (path methods)", 10, 200, 50, key="img_steps")
        n_samples = st.slider(
            "Samples (sampling methods)", 50, 500, 200, step=50, key="img_samples"
        )
        target = st.text_input(
            "Target class (name or index; empty: the predicted class)", key="img_target"
        )
        score = st.checkbox("Score the methods (deletion, insertion, infidelity)", key="img_score")
        run = st.button("Explain", key="explain_image", type="primary")
        st.image(image, caption="input", width=224)
    if run:
        try:
            options = {"n_steps": n_steps, "n_samples": n_samples}
            st.session_state["image_results"] = explain_images(
                demo, image, model_file, methods, baseline, n_segments, score, options, target
            )
        except Exception as err:  # noqa: BLE001 - shown in the page, the app keeps running
            st.session_state.pop("image_results", None)
            st.error(f"Could not explain this input: {err}")
            return
    if "image_results" in st.session_state:
        with right:
            show_image_results(*st.session_state["image_results"])


def method_options(method: str, options: dict) -> dict:
    """The options (n_steps, n_samples) that this method's ``attribute`` takes."""
    import inspect

    from perspicio.core.registry import get_spec

    accepted = inspect.signature(get_spec(method.split(":")[-1]).cls.attribute).parameters
    return {k: v for k, v in options.items() if k in accepted}


def parse_target(target: str, labels: list[str]):
    target = target.strip()
    if not target:
        return None
    if target.isdigit():
        return int(target)
    if target not in labels:
        raise ValueError(f"{target!r} is not a class name of the model")
    return target


def explain_images(demo, image, model_file, methods, baseline, n_segments, score, options, target):
    """Explain the image with each method; optionally score them. Returns what to show."""
    from perspicio import vision
    from perspicio.core.metrics import deletion_curve, infidelity, insertion_curve

    model = demo.model
    if model_file is not None:
        from efficientnet_lite_pytorch import EfficientNet

        model = load_uploaded_model(
            model_file, lambda: EfficientNet.from_name("efficientnet-lite0")
        )
    results = []
    progress = st.progress(0.0, text="explaining")
    for i, method in enumerate(methods):
        results.append(
            vision.explain(
                model,
                image,
                method=method,
                baseline=baseline,
                transform=demo.transform,
                labels=demo.labels,
                target=parse_target(target, demo.labels),
                n_segments=n_segments,
                seed=0,
                **method_options(method, options),
            )
        )
        progress.progress((i + 1) / len(methods), text=method)
    progress.empty()
    scores = None
    if score and results:
        import pandas as pd

        probs = torch.nn.Sequential(model, torch.nn.Softmax(dim=1)).eval()
        x = demo.transform(image).unsqueeze(0)
        mask = vision.segment(results[0].image[0], "slic", n_segments)
        generator = torch.Generator().manual_seed(0)

        def noise(inputs):
            e = 0.1 * torch.randn(inputs.shape, generator=generator)
            return e, inputs - e

        rows = []
        for exp in results:
            kw = dict(target=exp.targets[0], feature_mask=mask, n_steps=10)
            attr = exp.attributions[:1].expand_as(x)  # a CAM value applies to all channels
            rows.append(
                {
                    "method": exp.method,
                    "deletion AUC (lower is better)": float(
                        deletion_curve(probs, x, attr, **kw).auc[0]
                    ),
                    "insertion AUC (higher is better)": float(
                        insertion_curve(probs, x, attr, **kw).auc[0]
                    ),
                    "infidelity (lower is better)": float(
                        infidelity(probs, noise, x, attr, target=exp.targets[0], normalize=True)[0]
                    ),
                }
            )
        scores = pd.DataFrame(rows).set_index("method")
    return [(exp, png(exp.plot())) for exp in results], scores


def show_image_results(results, scores) -> None:
    if not results:
        st.info("Pick at least one method.")
        return
    first = results[0][0]
    st.subheader(f"Prediction: {first.predicted_label} ({first.predicted_score:.1%})")
    for column, (exp, picture) in zip(st.columns(len(results)), results):
        with column:
            st.image(picture, caption=exp.method)
            if exp.convergence_delta is not None:
                st.caption(f"convergence delta {float(exp.convergence_delta.abs().max()):.3g}")
            st.download_button(
                "PNG", picture, f"{exp.method}.png", "image/png", key=f"png_{exp.method}"
            )
            st.download_button(
                "HTML", exp.to_html(), f"{exp.method}.html", "text/html", key=f"html_{exp.method}"
            )
    if scores is not None:
        st.dataframe(scores)


def text_tab() -> None:
    from perspicio import text

    model, tokenizer, description = text_demo()
    st.caption(description)
    sentence = st.text_area(
        "Text", "A gorgeous, witty film that never stops surprising.", key="txt_input"
    )
    method = st.selectbox("Method", TEXT_METHODS, key="txt_method")
    granularity = st.radio("Granularity", ["word", "token"], horizontal=True, key="txt_granularity")
    if st.button("Explain", key="explain_text", type="primary"):
        try:
            st.session_state["text_result"] = text.explain(
                model,
                tokenizer,
                sentence,
                method=method,
                granularity=granularity,
                seed=0,
                max_length=128,
            )
        except Exception as err:  # noqa: BLE001
            st.session_state.pop("text_result", None)
            st.error(f"Could not explain this text: {err}")
            return
    exp = st.session_state.get("text_result")
    if exp is None:
        return
    st.subheader(f"Prediction: {exp.predicted_label} ({exp.predicted_probability:.1%})")
    page = exp.to_html()
    st.html(page)
    st.image(png(exp.plot()))
    st.download_button("HTML", page, "explanation.html", "text/html", key="txt_html")


@st.cache_resource(show_spinner="Preparing the explainer...")
def table_explainer(method: str, background_source: str, fingerprint: int = 0, _background=None):
    """An Explainer on the demo model, built once per method and background (an uploaded
    background is told apart by ``fingerprint``, a hash of its content)."""
    from perspicio import tabular

    model, training, _ = table_demo()
    if _background is None:
        return tabular.Explainer(
            model, training, method=method, seed=0, background_name="the training split"
        )
    return tabular.Explainer(
        model, _background, method=method, seed=0, background_name=background_source
    )


def table_tab() -> None:
    import pandas as pd

    from perspicio.tabular import MIN_POPULATION, TabularExplanation

    _, training, held_out = table_demo()
    upload = st.file_uploader(
        "CSV (optional; the breast-cancer columns)", type=["csv"], key="tab_upload"
    )
    frame = held_out  # patients the model was not trained on
    if upload is not None:
        try:
            frame = pd.read_csv(upload)
            missing = [c for c in training.columns if c not in frame.columns]
            if missing:
                st.error(
                    f"The CSV lacks {len(missing)} column(s) the model needs, e.g. {missing[:3]}"
                )
                return
            frame = frame[list(training.columns)]
        except Exception as err:  # noqa: BLE001
            st.error(f"Could not read this CSV: {err}")
            return
    sources = [f"the training split ({len(training)} patients)"]
    if upload is not None:
        sources.append(f"the uploaded CSV ({len(frame)} rows)")
    source = st.radio("Explain against (background)", sources, key="tab_background")
    background, fingerprint = None, 0
    if source != sources[0]:
        if len(frame) < MIN_POPULATION:
            st.error(
                f"The uploaded CSV has {len(frame)} rows, too few to stand for a population "
                f"(at least {MIN_POPULATION}); explain against the training split instead."
            )
            return
        background = frame
        fingerprint = int(pd.util.hash_pandas_object(frame, index=False).sum())
    row = st.number_input("Row", 0, len(frame) - 1, 0, key="tab_row")
    method = st.selectbox("Method", TABLE_METHODS, key="tab_method")
    if st.button("Explain the row", key="explain_table", type="primary"):
        try:
            explainer = table_explainer(method, source, fingerprint, background)
            st.session_state["table_result"] = explainer.explain(frame.iloc[[int(row)]])
        except Exception as err:  # noqa: BLE001
            st.session_state.pop("table_result", None)
            st.error(f"Could not explain this row: {err}")
            return
    exp = st.session_state.get("table_result")
    if exp is not None:
        st.subheader(f"Score {float(exp.scores[0]):.3f} (class {exp.targets[0]})")
        st.caption(f"Explained against {exp.background}, with {exp.method}.")
        top = exp.attributions[0].abs().argsort(descending=True)[:3].tolist()
        st.markdown(
            "Largest contributions: "
            + ", ".join(f"{exp.features[g]} ({float(exp.attributions[0, g]):+.3f})" for g in top)
        )
        st.image(png(exp.plot(0)))
        st.dataframe(exp.to_frame())
    if st.button("Global importance of the table", key="importance_table"):
        explainer = table_explainer("kernel_shap", source, fingerprint, background)
        bar = st.progress(0.0, text="explaining rows")
        parts = []
        for start in range(0, len(frame), 64):
            parts.append(explainer.explain(frame.iloc[start : start + 64]))
            bar.progress(min(1.0, (start + 64) / len(frame)))
        report = TabularExplanation.concatenate(parts)
        st.caption(f"Explained against {report.background}.")
        st.image(png(report.plot_global()))
        st.download_button(
            "HTML report", report.to_html(), "report.html", "text/html", key="tab_report"
        )


@st.cache_resource(show_spinner="Preparing the explorer (trains the shapes model once)...")
def explorer_demo():
    """The Insights explorer over the shapes demo model and held-out shapes images."""
    from perspicio.insights import AttributionVisualizer, Batch, ImageFeature
    from perspicio.vision.demo import SHAPES, shapes_dataset, shapes_model

    images, labels, _ = shapes_dataset(48, seed=7)
    batches = [Batch(images[i : i + 16], labels=labels[i : i + 16]) for i in range(0, 48, 16)]
    return AttributionVisualizer(
        models=[shapes_model()], classes=list(SHAPES), features=[ImageFeature("image")],
        dataset=batches, score_func=lambda out: out.softmax(1),
    )  # fmt: skip


def explorer_tab() -> None:
    from perspicio.insights.ui import explorer

    st.caption("The shapes demo model on held-out images: filter, then explain an example.")
    explorer(explorer_demo(), key="explorer")


@st.cache_resource(show_spinner="Training the capital-cities language model (about 90 s, once)...")
def generation_demo():
    from perspicio.text.demo_lm import capital_cities_lm

    return capital_cities_lm()


def generation_tab() -> None:
    from perspicio.text import explain_generation

    model, tokenizer = generation_demo()
    st.caption(
        "A small GPT-2 trained here on sentences such as 'i flew to peru . the capital of "
        "japan is tokyo .': which words of the prompt made it answer?"
    )
    prompt = st.text_area(
        "Prompt", "it rained in oslo . my friend likes chile . the capital of kenya is",
        key="gen_prompt",
    )  # fmt: skip
    target = st.text_input("Target (empty: the model's own greedy answer)", "", key="gen_target")
    method = st.selectbox("Method", GENERATION_METHODS, key="gen_method")
    if st.button("Explain the answer", key="explain_generation", type="primary"):
        try:
            st.session_state["generation_result"] = explain_generation(
                model, tokenizer, prompt, target=target.strip() or None, method=method,
                gen_args={"max_new_tokens": 6, "do_sample": False},
            )  # fmt: skip
        except Exception as err:  # noqa: BLE001
            st.session_state.pop("generation_result", None)
            st.error(f"Could not explain this prompt: {err}")
            return
    res = st.session_state.get("generation_result")
    if res is None:
        return
    st.subheader("Answer: " + " ".join(res.output_tokens))
    st.html(res.to_html())
    figure = res.plot_token_attr()[0] if res.token_attr is not None else res.plot_seq_attr()[0]
    st.image(png(figure))
    st.download_button("HTML", res.to_html(), "generation.html", "text/html", key="gen_html")


st.title("perspicio")
st.caption("Why did the model decide that? Pick an input, a model and methods.")
image, sentence, generation, table, explore = st.tabs(
    ["Image", "Text", "Generation", "Table", "Explorer"]
)
with image:
    image_tab()
with sentence:
    text_tab()
with generation:
    generation_tab()
with table:
    table_tab()
with explore:
    explorer_tab()
