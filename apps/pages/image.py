"""The Image page: explain a photo (a sample or an upload) with up to four methods, side by
side, and score them with the faithfulness metrics."""

import hashlib

import streamlit as st
import torch

from perspicio import vision
from perspicio.apps import common
from perspicio.core.registry import default_method, get_metric, metric_names
from perspicio.models import load_model_file
from perspicio.vision.demo import SAMPLES, sample_image

demo = common.image_demo()
#: the faithfulness metrics of the registry that score a map without re-running its method
#: the faithfulness metrics of one image's maps: neither re-explaining (costly), nor of a set
#: of examples, nor of another modality
SCORES = [
    m
    for m in metric_names(family="faithfulness")
    if not get_metric(m).needs & {"method", "rebuild", "tokenizer", "examples"}
    and "images" in get_metric(m).modalities
]
PHOTO = "photo classifier (EfficientNet-Lite0)"
CAPTIONS_DEMO = "shapes captions, a dual encoder (demo)"
left, right = st.columns([1, 2])
with left:
    kind = st.radio(
        "Model",
        [PHOTO, "shapes detector (demo)", "shapes segmenter (demo)", CAPTIONS_DEMO],
        key="img_kind",
    )
    if kind == CAPTIONS_DEMO:  # a generated scene of two shapes
        from perspicio.vision.demo import shape_pairs_dataset

        scene = st.number_input("Scene", 0, 999, 0, key="img_scene")
        image = shape_pairs_dataset(1, seed=1000 + int(scene))[0][0]
    elif kind != PHOTO:  # a generated scene: one shape among strokes
        from perspicio.vision.demo import shapes_dataset

        scene = st.number_input("Scene", 0, 999, 0, key="img_scene")
        image = shapes_dataset(1, seed=1000 + int(scene))[0][0]
    else:
        source = st.radio("Image", ["sample photo", "upload"], horizontal=True, key="img_source")
        if source == "sample photo":
            image = sample_image(st.selectbox("Photo", SAMPLES, key="img_sample"))
        else:
            upload = common.file_upload(
                "Image file", "image", type=["png", "jpg", "jpeg", "bmp"], key="img_upload"
            )
            if upload is None:
                st.info("Upload an image, or pick a sample photo.")
                st.stop()
            from PIL import Image

            try:
                image = Image.open(upload).convert("RGB")
            except Exception:  # noqa: BLE001
                st.error("This file is not an image that can be read.")
                st.stop()
    model_file = (
        None
        if kind != PHOTO
        else common.file_upload(
            "Model (optional): an EfficientNet-Lite0 state dict or safetensors file"
            + (", or TorchScript" if common.trust_torchscript() else ""),
            "model",
            type=["pt", "pth", "safetensors"],
            key="img_model",
        )
    )
    methods = st.multiselect(
        "Methods (up to four)",
        list(vision.METHODS),
        default=[default_method("image_interactive")],
        max_selections=4,
        key="img_methods",
    )
    baseline = st.selectbox(
        "Baseline", ["black", "blur", "white", "uniform", "mean"], key="img_baseline"
    )
    n_segments = st.slider("Superpixels (perturbation methods)", 10, 100, 40, key="img_segments")
    n_steps = st.slider("Steps (path methods)", 10, 200, 50, key="img_steps")
    n_samples = st.slider("Samples (sampling methods)", 50, 500, 200, step=50, key="img_samples")
    target = st.text_input(
        "Caption (e.g. 'a circle'; empty: the caption the model picks among the four shapes)"
        if kind == CAPTIONS_DEMO
        else "Target class (name or index; empty: the predicted class); a detector's "
        "detection index",
        key="img_target",
    )
    box = st.text_input(
        "Box x0,y0,x1,y1 (detectors: the object to explain, of the target "
        "class; segmentation models: where the class is scored)",
        key="img_box",
    )
    score = st.checkbox(f"Score the methods ({', '.join(SCORES)})", key="img_score")
    shown = image if kind == PHOTO else image.permute(1, 2, 0).numpy()
    st.image(shown, caption="input", width=224)


def explain():
    """Each method's explanation of the image (with the spec's settings for steps and
    samples), then, if asked, the metrics of core.metrics on them."""
    model, transform, labels = demo.model, demo.transform, demo.labels
    processor = None
    if kind == CAPTIONS_DEMO:
        from perspicio.vision.demo import CAPTIONS

        (model, processor), transform = common.caption_demo(), None
        labels = None if target.strip() else list(CAPTIONS)  # zero-shot over the shapes
    elif kind != PHOTO:
        (model, labels), transform = common.scene_demos()[kind], None
    if model_file is not None:
        from efficientnet_lite_pytorch import EfficientNet

        data = model_file.getvalue()

        def read_model():
            return load_model_file(
                data,
                lambda: EfficientNet.from_name("efficientnet-lite0"),
                name=model_file.name,
                max_mb=common.UPLOAD_LIMITS_MB["model"],
                trust_torchscript=common.trust_torchscript(),
            )

        model = common.session_cached("img_models", hashlib.sha256(data).hexdigest(), read_model)
    chosen = (
        target.strip() or None if kind == CAPTIONS_DEMO else common.parse_target(target, labels)
    )
    region = common.parse_box(box)
    results, bar = [], st.progress(0.0, text="explaining")
    for i, method in enumerate(methods):
        results.append(
            vision.explain(
                model,
                image,
                method=method,
                baseline=baseline,
                transform=transform,
                labels=labels,
                target=chosen,
                n_segments=n_segments,
                seed=0,
                region=region,
                processor=processor,
                settings={"n_steps": n_steps, "n_samples": n_samples},
            )
        )
        bar.progress((i + 1) / len(methods), text=method)
    bar.empty()
    scores = _scores(model, results) if score and results and kind == PHOTO else None
    return [(exp, common.png(exp.plot())) for exp in results], scores


def _scores(model, results):
    """The faithfulness metrics of each method's map (:data:`SCORES`), on the class
    probabilities."""
    from perspicio.core.metrics import score_attributions

    probabilities = torch.nn.Sequential(model, torch.nn.Softmax(dim=1)).eval()
    x = demo.transform(image).unsqueeze(0)
    table = score_attributions(
        probabilities,
        x,
        {exp.method: exp.attributions[:1].expand_as(x) for exp in results},  # CAMs: every channel
        metrics=SCORES,
        target=results[0].targets[0],
        feature_mask=vision.segment(results[0].image[0], "slic", n_segments),
        n_steps=10,
        generator=0,
    )
    return table


def show(result) -> None:
    results, scores = result
    if not results:
        st.info("Pick at least one method.")
        return
    first = results[0][0]
    st.subheader(f"Prediction: {first.predicted_label} ({first.predicted_score:.1%})")
    for column, (exp, picture) in zip(st.columns(len(results)), results):
        with column:
            common.show_explanation(exp, key=exp.method, picture=picture)
            if exp.convergence_delta is not None:
                st.caption(f"convergence delta {float(exp.convergence_delta.abs().max()):.3g}")
    if scores is not None:
        common.show_scores(scores)


with left:
    common.run_and_show("explain_image", explain, show, where=right)
