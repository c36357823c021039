"""An image seen as segments that can be painted out: the interpretable input of a
vision-language model (Captum's ``ImageMaskInput``).

Each feature is a set of pixels: the pixels sharing an id in ``mask``, or one binary mask
of ``mask_list`` (masks may overlap). A perturbed row paints the pixels of its absent
features with the ``baseline`` colour, and ``processor_fn`` turns the painted image into
what the model reads (a Hugging Face processor's ``input_ids``, ``pixel_values`` ...).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from typing import Any

import numpy as np
import torch
from torch import Tensor

from ..errors import AttributionTypeError, AttributionValueError
from .inputs import InterpretableInput, _row


def _identity(image: Any) -> Any:
    return image


def _as_2d(value: Any, name: str, shape: tuple[int, int]) -> Tensor:
    if isinstance(value, np.ndarray):
        value = torch.from_numpy(value)
    if not isinstance(value, Tensor):
        raise AttributionTypeError(
            f"`{name}` must be a tensor of shape {shape} (the image's height, width), "
            f"got {type(value).__name__}"
        )
    if tuple(value.shape) != shape:
        raise AttributionValueError(
            f"`{name}` has shape {tuple(value.shape)}, but the image is {shape[1]} x "
            f"{shape[0]} pixels: expected shape {shape} (height, width)"
        )
    return value.detach().cpu()


class ImageMaskInput(InterpretableInput):
    """An image whose interpretable features are segments of pixels.

    Parameters
    ----------
    image : PIL.Image.Image
        The image (``H x W`` pixels).
    mask : tensor ``(H, W)``, optional
        A segment id per pixel (any values: the features are its distinct ids, in sorted
        order). None: the whole image is one feature.
    mask_list : list of tensors ``(H, W)``, optional
        One binary mask per feature; masks may overlap and each must select a pixel. When
        given, ``mask`` is ignored (as in Captum).
    baseline : tuple of int, default (255, 255, 255)
        The colour that replaces an absent segment's pixels (one value per channel).
    processor_fn : callable, default identity
        Turns an image into the model's inputs; for :class:`~perspicio.core.LLMAttribution`
        a mapping with ``input_ids`` (a Hugging Face processor's output, with the prompt).

    Attributes
    ----------
    values : list of str
        ``"image_feature_<id>"`` per feature (the segment ids of ``mask``; ``0 .. F-1``
        for ``mask_list``).
    original_model_inputs
        ``processor_fn(image)``, computed once.

    Examples
    --------
    >>> import torch
    >>> from PIL import Image
    >>> from perspicio.core import ImageMaskInput
    >>> image = Image.new("RGB", (4, 2), (10, 20, 30))
    >>> mask = torch.tensor([[5, 5, 7, 7], [5, 5, 7, 7]])   # left half 5, right half 7
    >>> inp = ImageMaskInput(image, mask=mask, baseline=(0, 0, 0))
    >>> inp.values, inp.to_tensor().tolist()
    (['image_feature_5', 'image_feature_7'], [[1.0, 1.0]])
    >>> painted = inp.to_model_input(torch.tensor([[1.0, 0.0]]))   # the right half absent
    >>> painted.getpixel((0, 0)), painted.getpixel((3, 1))
    ((10, 20, 30), (0, 0, 0))
    >>> inp.format_pixel_attr(torch.tensor([[0.5, -1.0]])).tolist()
    [[[0.5, 0.5, -1.0, -1.0], [0.5, 0.5, -1.0, -1.0]]]
    """

    def __init__(
        self,
        image: Any,
        mask: Tensor | None = None,
        mask_list: Sequence[Tensor] | None = None,
        baseline: Sequence[int] = (255, 255, 255),
        processor_fn: Callable[[Any], Any] = _identity,
    ) -> None:
        from PIL import Image

        if not isinstance(image, Image.Image):
            raise AttributionTypeError(
                f"`image` must be a PIL image (PIL.Image.open(path) or Image.fromarray), "
                f"got {type(image).__name__}"
            )
        if not callable(processor_fn):
            raise AttributionTypeError(
                f"`processor_fn` must be callable (image -> model inputs), "
                f"got {type(processor_fn).__name__}"
            )
        self.image = image
        self.processor_fn = processor_fn
        self.image_shape = (image.size[1], image.size[0])  # (height, width)
        self._pixels = np.array(image)
        self.baseline = self._check_baseline(baseline)
        if mask_list is not None:
            if isinstance(mask_list, Tensor) or not isinstance(mask_list, (list, tuple)):
                raise AttributionTypeError(
                    f"`mask_list` must be a list of {self.image_shape} masks, "
                    f"got {type(mask_list).__name__}"
                )
            if not mask_list:
                raise AttributionValueError("`mask_list` is empty: give at least one mask")
            self.mask_list = [
                _as_2d(m, f"mask_list[{i}]", self.image_shape) for i, m in enumerate(mask_list)
            ]
            for i, m in enumerate(self.mask_list):
                if not m.bool().any():
                    raise AttributionValueError(
                        f"`mask_list[{i}]` selects no pixel: every feature needs at least one"
                    )
            self.mask = torch.empty(0)
            ids: list = list(range(len(self.mask_list)))
            self._bool_masks = [m.bool().numpy() for m in self.mask_list]
        else:
            if mask is None:
                mask = torch.zeros(self.image_shape, dtype=torch.int32)
            self.mask = _as_2d(mask, "mask", self.image_shape)
            self.mask_list = []
            ids = torch.unique(self.mask).tolist()
            self._bool_masks = [(self.mask == i).numpy() for i in ids]
        self.mask_id_to_idx = {
            (int(i) if float(i).is_integer() else i): j for j, i in enumerate(ids)
        }
        self.n_itp_features = len(ids)
        self.values = [f"image_feature_{i}" for i in self.mask_id_to_idx]
        self.original_model_inputs = processor_fn(image)

    def _check_baseline(self, baseline: Any) -> tuple:
        channels = 1 if self._pixels.ndim == 2 else self._pixels.shape[-1]
        values = (baseline,) if np.isscalar(baseline) else tuple(baseline)
        if len(values) not in (1, channels):
            raise AttributionValueError(
                f"`baseline` has {len(values)} values, but the {self.image.mode} image has "
                f"{channels} channel(s): give one value per channel, e.g. "
                f"{(255,) * channels}"
            )
        return values if len(values) == channels else values * channels

    def to_model_input(self, perturbed_tensor: Tensor | None = None) -> Any:
        """``processor_fn`` of the image with the absent segments painted ``baseline``
        (``original_model_inputs`` when ``perturbed_tensor`` is None)."""
        if perturbed_tensor is None:
            return self.original_model_inputs
        return self.processor_fn(self.painted(perturbed_tensor))

    def painted(self, perturbed_tensor: Tensor) -> Any:
        """The image with the pixels of the features where ``perturbed_tensor`` is 0 set to
        ``baseline``."""
        from PIL import Image

        present = _row(perturbed_tensor, self.n_itp_features)
        pixels = self._pixels.copy()
        fill = np.asarray(self.baseline if pixels.ndim == 3 else self.baseline[0])
        for keep, where in zip(present, self._bool_masks):
            if not keep:
                pixels[where] = fill
        return Image.fromarray(pixels.astype("uint8"))

    def get_mask_list(self) -> list[Tensor]:
        """One boolean ``(H, W)`` mask per feature."""
        return [torch.from_numpy(m) for m in self._bool_masks]

    def format_pixel_attr(self, itp_attr: Tensor) -> Tensor:
        """Attributions per pixel: ``(*d, F)`` to ``(*d, H, W)``; a pixel in several
        features of ``mask_list`` gets the sum of their attributions."""
        masks = torch.stack(self.get_mask_list()).to(itp_attr.device, itp_attr.dtype)
        return torch.tensordot(itp_attr, masks, dims=([-1], [0]))

    def plot_mask_overlay(
        self, show: bool = False, border_width: int = 0, show_legends: bool = True
    ) -> tuple[Any, Any] | None:
        """The image with each segment in a colour of its own (its border ``border_width``
        pixels wide, its id at its centroid); returns ``(figure, axes)`` unless ``show``."""
        from . import _image_plots

        return _image_plots.mask_overlay(self, show, border_width, show_legends)


def check_reaches_model(inp: ImageMaskInput) -> None:
    """Raise a ``ValueError`` when the whole image painted out gives the model the same
    inputs (``processor_fn`` does not pass the image on); a ``TypeError`` when the inputs
    are not a mapping with ``input_ids``."""
    original = inp.original_model_inputs
    if not isinstance(original, Mapping) or "input_ids" not in original:
        raise AttributionTypeError(
            "`processor_fn` of the ImageMaskInput must return the model's inputs as a "
            "mapping with 'input_ids' (e.g. processor(text=prompt, images=image, "
            f"return_tensors='pt')), got {type(original).__name__}"
        )
    blank = inp.to_model_input(torch.zeros(1, inp.n_itp_features))
    if _same(original, blank):
        raise AttributionValueError(
            "`processor_fn` returns the same model inputs when the whole image is painted "
            f"with the baseline {inp.baseline}: the image does not reach the model (does "
            "processor_fn pass its argument to the processor?), or the image is all that "
            "colour already"
        )


def _same(a: Any, b: Any) -> bool:
    if isinstance(a, Tensor) and isinstance(b, Tensor):
        return a.shape == b.shape and bool(torch.equal(a.cpu(), b.cpu()))
    if isinstance(a, Mapping) and isinstance(b, Mapping):
        return a.keys() == b.keys() and all(_same(a[k], b[k]) for k in a)
    if isinstance(a, (list, tuple)) and isinstance(b, (list, tuple)):
        return len(a) == len(b) and all(_same(x, y) for x, y in zip(a, b))
    if isinstance(a, np.ndarray) or isinstance(b, np.ndarray):
        return bool(np.array_equal(np.asarray(a), np.asarray(b)))
    return bool(a == b)
