"""``vision.explain(model, img)``: one call from an image to an explanation."""

from __future__ import annotations

import functools
from typing import Any

import torch
from torch import nn

from perspicio.core import Attribution, LayerAttribution
from perspicio.core.frontend import (
    Facts,
    PredictedClass,
    attribute_with_delta,
    check_positive_int,
    check_seed,
    make_generator,
    model_device,
    prediction,
    preserved_state,
    resolve_class_targets,
)
from perspicio.core.registry import MethodNames, MethodSpec, Prepared, prepare

from ._image import check_channels, to_batch, to_display
from .baselines import baseline_distribution, image_baseline
from .cam import Logits, find_cam_layer
from .caption_target import CaptionScores, image_transform, is_caption_target, is_dual_encoder
from .explanation import ImageExplanation
from .segmentation import segment
from .targets import (
    DetectionScore,
    RegionScores,
    as_probabilities,
    first_output,
    is_topk,
    probabilities,
    scoring_model,
)


#: The methods that explain one image (a live view of the registry): those attributing to
#: the pixels of a torch model (of the image itself, not of a chosen neuron) and the class
#: maps of a layer (the CAMs), in the registry's order.
def _explains_images(spec: MethodSpec) -> bool:
    if spec.tree:
        return False
    return spec.layer_map or (
        spec.attributes_inputs and not spec.needs_neuron and spec.min_batch == 1
    )


METHODS = MethodNames(_explains_images)


def _resolve_targets(
    target: Any, probs: torch.Tensor | None, labels: list[str] | None
) -> list[int]:
    if probs is not None:
        _check_labels(labels, probs)
    return resolve_class_targets(target, probs, labels, rows=None)


def explain(
    model: nn.Module,
    img: Any,
    *,
    target: Any = None,
    method: str | Attribution = "integrated_gradients",
    baseline: Any = "black",
    transform: Any = None,
    layer: nn.Module | None = None,
    n_segments: int = 50,
    seed: int | None = None,
    labels: list[str] | None = None,
    settings: dict[str, Any] | None = None,
    region: Any = None,
    processor: Any = None,
    **method_kwargs: Any,
) -> ImageExplanation:
    """Explain an image classifier's (or a segmentation model's) decision on one image.

    Parameters
    ----------
    model : torch.nn.Module
        A classifier returning logits ``(N, classes)`` (or a Hugging Face ``ModelOutput``
        with ``logits``), or a segmentation model returning class maps ``(N, classes, h,
        w)`` (torchvision's dict with ``"out"`` included): the score of a class is then
        its logits summed over ``region``. It is run in eval mode and left in the mode it
        was in.
    img : PIL image, array (HxW / HxWxC), tensor (CxHxW / 1xCxHxW) or path
    target : None, int, class name, list of them, ``"topk:K"``, a detector's object, or captions
        For a detector: None (the top detection), a detection's index, or ``{"box": (x0,
        y0, x1, y1), "label": class}`` (:class:`~perspicio.vision.detection_target.DetectionScore`).
        None explains the predicted class (for a segmentation model without ``region``:
        the class with the highest mean probability over the pixels predicted as it).
        For a dual-encoder image-text model (CLIP, SigLIP, open_clip): a caption or a list
        of captions, each explained by the model's image-text similarity (one map each,
        :class:`~perspicio.vision.caption_target.CaptionScores`); None with ``labels`` (a
        list of captions) explains the caption the model picks among them (zero-shot).
    method : str or Attribution
        A name from :data:`METHODS` (``integrated_gradients`` by default; ``saliency``,
        ``occlusion``, ``gradcam``...), ``noise_tunnel:<name>``, or an instance.
    baseline : str or tensor
        ``black``, ``white``, ``blur``, ``uniform``, ``mean`` or a tensor (a list of kinds
        for the methods that take a distribution).
    transform : torchvision transform, optional
        Preprocessing (default: pixels to [0, 1] only); its ``Normalize`` is honoured.
    layer : module, optional
        For the CAM methods (default: :func:`find_cam_layer`: the last convolution block of
        a CNN, the last block's first norm of a vision transformer, with its tokens laid
        on the patch grid).
    n_segments : int
        Superpixels (SLIC) for the perturbation methods.
    seed : int, optional
        For the sampling methods.
    labels : list of str, optional
        Class names.
    settings : dict, optional
        Settings applied where the method accepts them (``{"n_steps": 20, "n_samples":
        100}`` for a loop over methods); unlike ``method_kwargs``, ignored by the others.
    region : None, boolean mask (H, W) or box (x0, y0, x1, y1), optional
        Segmentation models: where the class's score is summed (None: the pixels the model
        predicts as the target class). Detectors: the object's box, ``target`` its class
        (the same as ``target={"box": region, "label": target}``).
    processor : Hugging Face processor or tokenizer, optional
        Dual encoders: turns the captions into tokens (and, for a processor with an image
        processor and no ``transform``, the image into the model's pixels).
    **method_kwargs
        Passed to the method's ``attribute`` (``n_steps``, ``n_samples``...).

    Examples
    --------
    >>> import torch, torchvision
    >>> from perspicio import vision
    >>> net = torchvision.models.resnet18(num_classes=4)
    >>> exp = vision.explain(net, torch.rand(3, 64, 64), method="saliency")
    >>> exp.attributions.shape
    torch.Size([1, 3, 64, 64])
    """
    _check_arguments(model, n_segments, labels, seed)
    if settings is not None and not isinstance(settings, dict):
        raise TypeError(f"`settings` must be a dict or None, got {type(settings).__name__}")
    if transform is None and processor is not None:
        transform = image_transform(processor)
    x = to_batch(img, transform)
    if x.shape[0] != 1:
        raise ValueError(
            f"`img` is a batch of {x.shape[0]} images; explain takes one (use "
            "vision.explain_dataset or perspicio.core for batches)"
        )
    x = x.to(model_device(model))
    check_channels(model, x)
    gen = make_generator(seed)
    with preserved_state(model):
        model.eval()
        net, target, labels = _caption_scoring(model, target, labels, processor)
        net = net if net is not None else scoring_model(model, x, region, target)
        segmentation = isinstance(net, (RegionScores, DetectionScore))  # scores of their own
        detected = net if isinstance(net, DetectionScore) else None
        if detected is not None:  # one output: the object's score
            target, object_labels, labels = 0, labels, None
        run = _prepare(method, net, layer, x, baseline, transform, n_segments, gen, settings)
        name, spec, attr_method, kwargs = run.name, run.spec, run.method, run.kwargs
        kwargs.update(method_kwargs)
        kwargs.pop("target", None)
        # A single-pass method's first forward pass is on the image itself: the prediction
        # is read from it instead of paying for another forward pass.
        one_pass = (
            isinstance(method, str)
            and spec.single_pass
            and not is_topk(target)
            and not segmentation
        )
        probs = None
        # A method whose convergence delta is f(x) - f(baseline) away from its total (Integrated
        # Gradients) never evaluates the image itself: one forward pass of the image and its
        # baseline gives both the prediction and the two ends of the convergence delta
        ends = None
        if (
            spec.delta_from_outputs
            and isinstance(kwargs.get("baselines"), torch.Tensor)
            and "return_convergence_delta" not in kwargs
            and "additional_forward_args" not in kwargs
            and not segmentation
        ):
            with torch.no_grad():
                ends = net(torch.cat([x, kwargs["baselines"].expand_as(x)]))
            probs = as_probabilities(ends[:1])
            targets = _resolve_targets(target, probs, labels)
        elif not one_pass:
            probs = probabilities(net, x)
            targets = _resolve_targets(target, probs, labels)
        elif target is None:
            targets = PredictedClass()  # each row's top class, inside the forward pass
        else:
            targets = _resolve_targets(target, None, labels)
        if isinstance(net, RegionScores):
            net.check_targets(targets)
        xs = x.expand(1 if callable(targets) else len(targets), -1, -1, -1)
        delta = None
        with first_output(net) as seen:
            if ends is not None:
                attr = attr_method.attribute(xs, target=targets, **kwargs)
                t = torch.tensor(targets, device=ends.device)
                change = ends[0, t] - ends[1, t]
                delta = attr.reshape(attr.shape[0], -1).sum(1).to(change.dtype) - change
            else:
                attr, delta = attribute_with_delta(attr_method, xs, target=targets, **kwargs)
        if probs is None:
            probs = as_probabilities(seen[0][:1])
            if callable(targets):
                targets = [int(probs[0].argmax())]
    if attr.shape[-2:] != x.shape[-2:]:  # layer maps (CAMs): to the image's size
        attr = LayerAttribution.interpolate(attr, tuple(x.shape[-2:]), "bilinear")
    _check_labels(labels, probs)
    names = [labels[t] if labels else str(t) for t in targets]
    boxes = None
    if detected is not None:
        names, boxes = [detected.describe(object_labels)], [tuple(detected.box.tolist())]
    predicted = prediction(probs[0], labels)
    if detected is not None:
        predicted["predicted_label"] = names[0]
    return ImageExplanation(
        attributions=attr.detach(),
        image=to_display(x, transform).detach().cpu(),
        targets=targets,
        labels=names,
        scores=[float(probs[0, t]) for t in targets],
        method=name,
        parameters={
            "baseline": baseline if isinstance(baseline, str) else "tensor",
            "seed": seed,
            **{k: v for k, v in run.kwargs.items() if k in (settings or {})},
            **method_kwargs,
        },
        convergence_delta=delta,
        **predicted,
        model=model,
        sign=spec.sign,
        boxes=boxes,
    )


def _check_arguments(model: Any, n_segments: Any, labels: Any, seed: Any) -> None:
    if not isinstance(model, nn.Module):
        raise TypeError(
            f"`model` must be a torch.nn.Module (an image classifier), got {type(model).__name__}"
        )
    check_positive_int(n_segments, "n_segments")
    check_seed(seed)
    if labels is not None and (
        isinstance(labels, str) or not all(isinstance(name, str) for name in labels)
    ):
        raise TypeError(f"`labels` must be a list of class names (str), got {labels!r:.80}")


def _caption_scoring(
    model: nn.Module, target: Any, labels: list[str] | None, processor: Any
) -> tuple[CaptionScores | None, Any, list[str] | None]:
    """A dual encoder as a classifier over captions: ``(scores, target, labels)`` where the
    target is a caption or a list of them (or None with ``labels`` as the captions to pick
    from); ``(None, target, labels)`` for any other model. A caption for a model without a
    text tower is refused."""
    dual = is_dual_encoder(model)
    if not dual:
        if processor is not None and is_caption_target(target):
            raise ValueError(
                f"`target` {target!r} is a caption, but {type(model).__name__} has no text "
                "tower (a CLIP-style model with get_text_features or encode_text): give a "
                "class index or name"
            )
        return None, target, labels
    if is_caption_target(target):
        captions = [target] if isinstance(target, str) else list(target)
        indices: Any = 0 if isinstance(target, str) else list(range(len(captions)))
        return CaptionScores(model, captions, processor), indices, captions
    if target is None and labels:
        return CaptionScores(model, labels, processor), None, list(labels)
    raise ValueError(
        f"`target` {target!r}: a dual-encoder image-text model is explained by captions: give "
        "target='a photo of a cat' (or a list of captions, one map each), or labels=[captions] "
        "and target=None for the caption it picks"
    )


def _check_labels(labels: list[str] | None, probs: torch.Tensor) -> None:
    if labels is not None and len(labels) != probs.shape[1]:
        raise ValueError(
            f"`labels` has {len(labels)} class names but the model scores {probs.shape[1]} "
            "classes; give one name per class"
        )


def _prepare(
    method, model, layer, x, baseline, transform, n_segments, gen, settings=None
) -> Prepared:
    """The method and its arguments for this image: the image's facts (its baseline or a
    distribution of baselines, superpixels, an occlusion window of an eighth of the image,
    the last convolution) stated once; the method's spec picks what it takes."""
    if not isinstance(method, (str, Attribution)):
        raise TypeError(f"`method` must be a name or an Attribution, got {type(method).__name__}")
    h, w = x.shape[-2:]

    @functools.cache
    def cam_layer():
        """The CAM layer and its reshape (a transformer's tokens to maps), found once."""
        if layer is not None:
            return layer, None
        inner = model.model if isinstance(model, (Logits, RegionScores, DetectionScore)) else model
        return find_cam_layer(inner, (h, w), x.shape[1])

    kinds = (
        ["black", "white", "blur"]
        if isinstance(baseline, str) and baseline == "black"
        else (baseline)
    )

    def superpixels(max_groups: int | None) -> torch.Tensor:
        """Each image's superpixels (for an exact method, a coarse grid it can afford)."""
        kind, n = (
            ("slic", n_segments) if max_groups is None else ("grid", min(n_segments, max_groups))
        )
        display = to_display(x, transform).cpu()
        return torch.cat([segment(img, kind, n) for img in display]).to(x.device)

    facts = Facts(
        x,
        baseline=lambda: image_baseline(baseline, x, transform, gen),
        population=lambda: (
            kinds
            if isinstance(kinds, torch.Tensor)
            else baseline_distribution(kinds, x, transform, gen)
        ),
        feature_mask=superpixels,
        window=(x.shape[1], max(1, h // 8), max(1, w // 8)),
        strides=(x.shape[1], max(1, h // 16), max(1, w // 16)),
        generator=gen,
        layer=lambda: cam_layer()[0],
        layer_reshape=lambda: cam_layer()[1],
        options=dict(settings or {}),
    )
    return prepare(method, model, facts)
