"""The vision front end's overhead: ``vision.explain`` against the bare core call it makes."""

from __future__ import annotations

import torch

from perspicio import core as P
from perspicio import vision

from .common import Case, max_abs_diff
from .gradient import resnet18


def cases(device: torch.device) -> list[Case]:
    net = resnet18(device)
    from perspicio.vision.demo import sample_image

    # a real photo: superpixels of pure noise collapse into one segment
    photo = torch.tensor(list(sample_image("chelsea").resize((224, 224)).getdata()))
    img = photo.view(224, 224, 3).permute(2, 0, 1).float() / 255
    x = img.unsqueeze(0).to(device)
    target = int(net(x).argmax(1))
    layer = vision.find_last_conv(net)
    mask = vision.segment(img, "slic", 50).to(device)
    bare = {
        "integrated_gradients": lambda: P.IntegratedGradients(net).attribute(
            x, torch.zeros_like(x), target=[target], n_steps=50
        ),
        "saliency": lambda: P.Saliency(net).attribute(x, target=[target]),
        "gradcam": lambda: P.LayerAttribution.interpolate(
            P.LayerGradCam(net, layer).attribute(x, target=[target], relu_attributions=True),
            (224, 224),
            "bilinear",
        ),
        "kernel_shap": lambda: P.KernelShap(net).attribute(
            x,
            target=[target],
            feature_mask=mask,
            baselines=torch.zeros_like(x),
            n_samples=200,
            generator=0,
        ),
    }
    out = []
    for name, core_call in bare.items():
        out.append(
            Case(
                f"vision.explain {name} resnet18 224 (vs the bare core call)",
                lambda n=name: vision.explain(net, img, method=n, seed=0).attributions,
                core_call,
                None,
                max_abs_diff,
                settings="the same method, target, baseline and superpixels in both; the bare "
                "call gets them as arguments",
            )
        )
    return out
