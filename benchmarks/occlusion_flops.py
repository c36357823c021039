"""How much arithmetic exact incremental occlusion could skip on a CNN.

For every occlusion window the changed region is carried through the model's graph (a
convolution or pooling widens it by its receptive field; elementwise operations, additions
and concatenations take the union; a global operation makes it the whole map). The
multiply-adds of each convolution restricted to its changed region, summed over the windows,
against the full model's: the ratio is the best speed-up any exact incremental scheme can
reach for that model and window grid (before its own overheads).

    python -m benchmarks.occlusion_flops resnet18 resnet50 vgg11 mobilenet_v3_small
"""

from __future__ import annotations

import math
import sys

import torch
import torch.fx as fx
from torch import nn
from torch.fx.passes.shape_prop import ShapeProp

SPATIAL = (nn.Conv2d, nn.MaxPool2d, nn.AvgPool2d)
GLOBAL = (nn.AdaptiveAvgPool2d, nn.AdaptiveMaxPool2d, nn.Linear, nn.Flatten)


def _pair(v):
    return v if isinstance(v, tuple) else (v, v)


def changed_range(lo: int, hi: int, k: int, s: int, p: int, d: int, size: int) -> tuple:
    """Output indices ``o`` whose window ``o*s - p + j*d`` (``j < k``) meets ``[lo, hi)``."""
    return max(0, math.ceil((lo + p - (k - 1) * d) / s)), min(size, (hi - 1 + p) // s + 1)


def skippable(model: nn.Module, size: int = 224, window: int = 15, stride: int = 8) -> float:
    """Full multiply-adds over all windows / multiply-adds inside the changed regions."""
    gm = fx.symbolic_trace(model)
    ShapeProp(gm).propagate(torch.zeros(1, 3, size, size))
    mods = dict(gm.named_modules())
    full_total = inc_total = 0.0
    starts = range(0, size - window + 1, stride)
    for r0 in starts:
        for c0 in starts:
            box: dict = {}
            for n in gm.graph.nodes:
                meta = n.meta.get("tensor_meta")
                shape = getattr(meta, "shape", None)
                mod = mods.get(n.target) if n.op == "call_module" else None
                if n.op == "placeholder":
                    box[n] = ((r0, r0 + window), (c0, c0 + window))
                    continue
                prev = [box[a] for a in n.all_input_nodes if a in box and box[a] is not None]
                if not prev:
                    box[n] = None
                elif (
                    any(b == "full" for b in prev)
                    or isinstance(mod, GLOBAL)
                    or (shape is None or len(shape) != 4)
                ):
                    box[n] = "full"
                elif isinstance(mod, SPATIAL):
                    k, s, p, d = (
                        _pair(getattr(mod, a, 1))
                        for a in ("kernel_size", "stride", "padding", "dilation")
                    )
                    (a0, a1), (b0, b1) = prev[0]
                    box[n] = (
                        changed_range(a0, a1, k[0], s[0], p[0], d[0], shape[2]),
                        changed_range(b0, b1, k[1], s[1], p[1], d[1], shape[3]),
                    )
                else:  # elementwise, normalisation, addition, concatenation: the union
                    box[n] = (
                        (min(b[0][0] for b in prev), max(b[0][1] for b in prev)),
                        (min(b[1][0] for b in prev), max(b[1][1] for b in prev)),
                    )
                if isinstance(mod, nn.Conv2d):
                    per = (
                        mod.out_channels
                        * mod.in_channels
                        // mod.groups
                        * math.prod(mod.kernel_size)
                    )
                    full = per * shape[2] * shape[3]
                    b = box[n]
                    area = (
                        shape[2] * shape[3]
                        if b == "full"
                        else ((b[0][1] - b[0][0]) * (b[1][1] - b[1][0]))
                    )
                    full_total += full
                    inc_total += per * area
                elif isinstance(mod, nn.Linear):
                    full_total += mod.in_features * mod.out_features
                    inc_total += mod.in_features * mod.out_features
    return full_total / inc_total


def main(names: list[str]) -> None:
    import torchvision.models as tvm

    for name in names or ["resnet18", "resnet50", "vgg11", "mobilenet_v3_small"]:
        model = getattr(tvm, name)(weights=None).eval()
        print(
            f"{name}: at most {skippable(model):.2f}x fewer multiply-adds "
            "(Occlusion 15x15, stride 8, 224x224)"
        )


if __name__ == "__main__":
    main(sys.argv[1:])
