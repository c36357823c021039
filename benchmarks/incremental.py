"""Incremental occlusion: Occlusion (3x15x15 windows, stride 8) and FeatureAblation over 49
SLIC superpixels of a photo, on torchvision resnet18 and resnet50 at 224x224: perspicio
with incremental evaluation against perspicio's batched evaluation and against Captum."""

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


def cases(device: torch.device, names: tuple[str, ...] = ("resnet18", "resnet50")) -> list[Case]:
    import captum.attr as C
    import torchvision.models as tvm

    img, mask = superpixels(device)
    out = []
    for name in names:
        torch.manual_seed(0)
        net = getattr(tvm, name)(weights=None).eval().to(device)
        occ, fa = P.Occlusion(net), P.FeatureAblation(net)
        window = dict(sliding_window_shapes=(3, 15, 15), strides=(3, 8, 8), target=3)

        def occ_inc(occ=occ, window=window):
            result = occ.attribute(img, **window, incremental=True)
            return result

        def fa_inc(fa=fa):
            return fa.attribute(img, target=3, feature_mask=mask, incremental=True)

        out += [
            Case(f"Occlusion {name} 224 3x15x15/8: incremental vs batched", occ_inc,
                 lambda occ=occ, window=window: occ.attribute(img, **window, incremental=False),
                 check=max_abs_diff),
            Case(f"Occlusion {name} 224 3x15x15/8: incremental vs Captum", occ_inc,
                 lambda net=net, window=window: C.Occlusion(net).attribute(img, **window),
                 check=max_abs_diff),
            Case(f"FeatureAblation {name} 224, 49 superpixels: incremental vs batched", fa_inc,
                 lambda fa=fa: fa.attribute(img, target=3, feature_mask=mask, incremental=False),
                 check=max_abs_diff),
            Case(f"FeatureAblation {name} 224, 49 superpixels: incremental vs Captum", fa_inc,
                 lambda net=net: C.FeatureAblation(net).attribute(img, target=3,
                                                                  feature_mask=mask),
                 check=max_abs_diff),
        ]  # fmt: skip
    return out
