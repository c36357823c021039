"""The CAM family against pytorch-grad-cam (PyPI ``grad-cam``) on the same model, images and
targets: the maps as pytorch-grad-cam returns them (ReLU, upsampled to the input, scaled to
[0, 1] per image). resnet18 at 224 (layer4) and a small ViT at 224 (its last block)."""

from __future__ import annotations

import torch
import torch.nn.functional as F

from perspicio import core as P
from perspicio.vision import vit_reshape_transform

from .common import Case, max_abs_diff
from .gradient import resnet18

#: (perspicio class, pytorch-grad-cam class)
GRADIENT_CAMS = [
    ("LayerGradCam", "GradCAM"),
    ("LayerGradCamPlusPlus", "GradCAMPlusPlus"),
    ("LayerXGradCam", "XGradCAM"),
    ("LayerHiResCam", "HiResCAM"),
    ("LayerLayerCam", "LayerCAM"),
    ("LayerEigenCam", "EigenCAM"),
]


#: the settings of the gradient CAMs: the same call in both
SAME = (
    "the same model, layer, images and targets; the maps presented as pytorch-grad-cam "
    "returns them in both; neither library has a setting that changes their speed"
)
#: pytorch-grad-cam's AblationCAM batch size in the best column
ABLATION_BEST = 128


def scaled(cam: torch.Tensor, size: tuple[int, int]) -> torch.Tensor:
    """pytorch-grad-cam's presentation: ReLU, bilinear upsampling, min-max per image."""
    cam = F.interpolate(torch.relu(cam), size=size, mode="bilinear", align_corners=False)[:, 0]
    low = cam.amin((1, 2), keepdim=True)
    high = cam.amax((1, 2), keepdim=True)
    return (cam - low) / (high - low + 1e-7)


def small_vit(device: torch.device):
    import torchvision

    torch.manual_seed(0)
    vit = torchvision.models.VisionTransformer(
        image_size=224,
        patch_size=16,
        num_layers=4,
        num_heads=3,
        hidden_dim=192,
        mlp_dim=768,
        num_classes=1000,
    ).eval()
    torch.nn.init.normal_(vit.heads.head.weight, std=0.02)  # torchvision starts it at zero
    return vit.to(device)


def cases(device: torch.device) -> list[Case]:
    import pytorch_grad_cam as G
    from pytorch_grad_cam.utils.model_targets import ClassifierOutputTarget

    out = []
    net = resnet18(device)
    vit = small_vit(device)
    setups = [
        ("resnet18 224 x4", net, net.layer4, None, torch.rand(4, 3, 224, 224, device=device)),
        (
            "ViT-4L 224 x4",
            vit,
            vit.encoder.layers[-1].ln_1,
            vit_reshape_transform,
            torch.rand(4, 3, 224, 224, device=device),
        ),
    ]
    for label, model, layer, transform, x in setups:
        targets = [1, 2, 3, 4][: x.shape[0]]
        extra = {"reshape_transform": transform} if transform is not None else {}
        for ours_name, theirs_name in GRADIENT_CAMS:
            ours = getattr(P, ours_name)(model, layer)
            theirs = getattr(G, theirs_name)(model=model, target_layers=[layer], **extra)
            wanted = [ClassifierOutputTarget(t) for t in targets]

            def run_ours(o=ours, x=x, targets=targets, extra=extra):
                return scaled(o.attribute(x, target=targets, **extra), x.shape[2:])

            def run_theirs(t=theirs, x=x, w=wanted):
                return torch.from_numpy(t(input_tensor=x, targets=w))

            check = max_abs_diff if ours_name != "LayerEigenCam" else None  # sign of an SVD
            out.append(
                Case(f"{ours_name} {label}", run_ours, run_theirs, None, check, settings=SAME)
            )
    # Ablation-CAM: one model evaluation per channel (512 on layer4), one image
    x = torch.rand(1, 3, 160, 160, device=device)
    ablation = P.LayerAblationCam(net, net.layer4)
    wanted = [ClassifierOutputTarget(5)]
    theirs = G.AblationCAM(model=net, target_layers=[net.layer4])  # batch_size=32
    theirs_best = G.AblationCAM(model=net, target_layers=[net.layer4], batch_size=ABLATION_BEST)
    out.append(
        Case(
            "LayerAblationCam resnet18 160 x1, layer4 (512 channels)",
            lambda: scaled(ablation.attribute(x, target=[5]), (160, 160)),
            lambda: torch.from_numpy(theirs(input_tensor=x, targets=wanted)),
            None,
            max_abs_diff,
            theirs_best=lambda: torch.from_numpy(theirs_best(input_tensor=x, targets=wanted)),
            settings='perspicio perturbations_per_eval="auto" (its default), pytorch-grad-cam '
            "AblationCAM batch_size=32 (its default)",
            best=f"pytorch-grad-cam batch_size={ABLATION_BEST} (of 32, 64, 128 and 256 the fastest "
            "in a trial on the project's 2-core machine)",
        )
    )
    return out
