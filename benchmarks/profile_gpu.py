"""Where the time of one FeatureAblation call goes on a GPU (a diagnostic, not a benchmark)."""

from __future__ import annotations

import torch

from perspicio import core as P
from perspicio.core._engine.batching import auto_rows, bytes_per_row
from perspicio.core._engine.inputs import feature_index, format_feature_mask

from .common import timeit
from .gradient import resnet18
from .perturbation import grid_mask


def main() -> None:
    dev = torch.device("cuda")
    net = resnet18(dev)
    img = torch.rand(1, 3, 224, 224, device=dev)
    mask = grid_mask(device=dev)
    fa = P.FeatureAblation(net)
    batch = img.expand(49, -1, -1, -1).contiguous(memory_format=torch.channels_last)
    parts = {
        "FA auto": lambda: fa.attribute(img, target=3, feature_mask=mask),
        "FA ppe=49": lambda: fa.attribute(
            img, target=3, feature_mask=mask, perturbations_per_eval=49
        ),
        "FA ppe=50": lambda: fa.attribute(
            img, target=3, feature_mask=mask, perturbations_per_eval=50
        ),
        "auto_rows": lambda: auto_rows(net, (img,), ()),
        "bytes_per_row": lambda: bytes_per_row(net, (img,), ()),
        "mem_get_info": lambda: torch.cuda.mem_get_info(dev),
        "forward 1 row": lambda: net(img),
        "forward 49 rows": lambda: net(batch),
        "feature_index": lambda: feature_index(format_feature_mask(mask, (img,))),
    }
    with torch.no_grad():
        for name, fn in parts.items():
            print(f"{name}: {timeit(fn, dev, 20, warmup=3):.2f} ms", flush=True)
    from torch.profiler import ProfilerActivity, profile

    with profile(activities=[ProfilerActivity.CPU, ProfilerActivity.CUDA]) as prof:
        for _ in range(5):
            parts["FA auto"]()
        torch.cuda.synchronize()
    print(prof.key_averages().table(sort_by="cpu_time_total", row_limit=25))


if __name__ == "__main__":
    main()
