"""Incremental occlusion: Occlusion (3x15x15 windows, stride 8) and FeatureAblation over 49
SLIC superpixels of a photo, on torchvision resnet18 and resnet50 at 224x224: perspicio
with incremental evaluation against perspicio's batched evaluation (the comparison with
Captum is the perturbation suite's)."""

from __future__ import annotations

import torch

from perspicio import core as P

from .common import Case, max_abs_diff


def superpixels(device: torch.device) -> tuple[torch.Tensor, torch.Tensor]:
    """scikit-image's cat photo at 224x224 and its 49-segment SLIC mask ``(1, 1, H, W)``."""
    from skimage import data, segmentation, transform

    photo = transform.resize(data.chelsea(), (224, 224), anti_aliasing=True)
    segments = segmentation.slic(photo, n_segments=50, compactness=30, start_label=0)  # 49
    img = torch.tensor(photo, dtype=torch.float32).permute(2, 0, 1)[None]
    return img.to(device), torch.tensor(segments)[None, None].to(device)


#: Occlusion windows: 3x15x15 at stride 8 (784 windows, the last of a row cut by the border)
#: on resnet18; on resnet50, whose batched evaluation at stride 8 is most of the whole
#: benchmark's time, at stride 15 (225 windows of the same size; a stride above the window
#: is refused)
STRIDES = {"resnet18": 8, "resnet50": 15}
SETTINGS = (
    "perspicio incremental=True against incremental=False (the batched evaluation, "
    'perturbations_per_eval="auto" in both); Captum: the perturbation suite'
)


def cases(device: torch.device, names: tuple[str, ...] = ("resnet18", "resnet50")) -> list[Case]:
    import torchvision.models as tvm

    img, mask = superpixels(device)
    out = []
    for name in names:
        torch.manual_seed(0)
        net = getattr(tvm, name)(weights=None).eval().to(device)
        occ, fa = P.Occlusion(net), P.FeatureAblation(net)
        stride = STRIDES[name]
        window = dict(sliding_window_shapes=(3, 15, 15), strides=(3, stride, stride), target=3)
        n = -(-(224 - 15) // stride) + 1  # windows per side, the last cut by the border
        out += [
            Case(
                f"Occlusion {name} 224, 3x15x15 stride {stride} ({n * n} windows)",
                lambda occ=occ, window=window: occ.attribute(img, **window, incremental=True),
                lambda occ=occ, window=window: occ.attribute(img, **window, incremental=False),
                check=max_abs_diff,
                settings=SETTINGS,
            ),
            Case(
                f"FeatureAblation {name} 224, 49 superpixels",
                lambda fa=fa: fa.attribute(img, target=3, feature_mask=mask, incremental=True),
                lambda fa=fa: fa.attribute(img, target=3, feature_mask=mask, incremental=False),
                check=max_abs_diff,
                settings=SETTINGS,
            ),
        ]
    return out
