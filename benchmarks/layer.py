"""Layer and neuron cases: conductance on the MLP, Grad-CAM on resnet18, LayerIG on a
small transformer text classifier."""

from __future__ import annotations

import torch
from torch import nn

from perspicio import core as P

from .common import NO_SETTINGS, Case, auto_rows, max_abs_diff
from .gradient import mlp, resnet18


class TinyTextClassifier(nn.Module):
    """Token embedding + position embedding, two encoder layers, mean pooling, 2 classes."""

    def __init__(self, vocab: int = 1000, dim: int = 64, length: int = 64) -> None:
        super().__init__()
        torch.manual_seed(0)
        self.embedding = nn.Embedding(vocab, dim)
        self.position = nn.Parameter(torch.randn(1, length, dim) * 0.02)
        self.layers = nn.ModuleList(
            nn.TransformerEncoderLayer(dim, 4, 128, dropout=0.0, batch_first=True) for _ in range(2)
        )
        self.head = nn.Linear(dim, 2)

    def forward(self, ids: torch.Tensor) -> torch.Tensor:
        h = self.embedding(ids) + self.position
        for layer in self.layers:
            h = layer(h)
        return self.head(h.mean(1))


SAME_IBS = "internal_batch_size=None in both (both defaults: every step in one batch)"
AUTO_IBS = (
    'perspicio internal_batch_size="auto" (its default), Captum None (its default: '
    "every step in one batch)"
)


def cases(device: torch.device) -> list[Case]:
    import captum.attr as C

    out = []
    small = mlp(device)
    rows = torch.randn(64, 30, device=device)
    for name in ("LayerConductance",):
        ours, theirs = getattr(P, name)(small, small[3]), getattr(C, name)(small, small[3])
        out.append(
            Case(
                f"{name} MLP 64 rows n_steps=50",
                lambda o=ours: o.attribute(rows, target=1, n_steps=50),
                lambda t=theirs: t.attribute(rows, target=1, n_steps=50),
                None,
                max_abs_diff,
                settings=SAME_IBS,
            )
        )
    nc, cnc = P.NeuronConductance(small, small[3]), C.NeuronConductance(small, small[3])
    out.append(
        Case(
            "NeuronConductance MLP 64 rows n_steps=50",
            lambda: nc.attribute(rows, 5, target=1, n_steps=50, method="gausslegendre"),
            lambda: cnc.attribute(rows, 5, target=1, n_steps=50, method="gausslegendre"),
            None,
            max_abs_diff,
            settings=SAME_IBS,
        )
    )

    net = resnet18(device)
    img = torch.rand(1, 3, 224, 224, device=device)
    gc, cgc = P.LayerGradCam(net, net.layer4), C.LayerGradCam(net, net.layer4)
    out.append(
        Case(
            "LayerGradCam resnet18 224 (layer4)",
            lambda: gc.attribute(img, target=3),
            lambda: cgc.attribute(img, target=3),
            None,
            max_abs_diff,
            settings=NO_SETTINGS,
        )
    )

    text = TinyTextClassifier().eval().to(device)
    ids = torch.randint(1, 1000, (1, 64), device=device)
    pad = torch.zeros_like(ids)
    chunk = auto_rows(text, ids)
    for label, layer in (("embedding", text.embedding), ("encoder layer 1", text.layers[1])):
        ours, theirs = (
            P.LayerIntegratedGradients(text, layer),
            C.LayerIntegratedGradients(text, layer),
        )
        out.append(
            Case(
                f"LayerIntegratedGradients transformer, {label} (1x64 tokens, n_steps=50)",
                lambda o=ours: o.attribute(ids, pad, target=1, n_steps=50),
                lambda t=theirs: t.attribute(ids, pad, target=1, n_steps=50),
                None,
                max_abs_diff,
                theirs_best=lambda t=theirs: t.attribute(
                    ids, pad, target=1, n_steps=50, internal_batch_size=chunk
                ),
                settings=AUTO_IBS,
                best=f"Captum internal_batch_size={chunk} (perspicio's automatic chunk here)",
            )
        )
    batch = torch.randint(1, 1000, (16, 64), device=device)
    chunk16 = auto_rows(text, batch)
    ours = P.LayerIntegratedGradients(text, text.embedding)
    theirs = C.LayerIntegratedGradients(text, text.embedding)
    out.append(
        Case(
            "LayerIntegratedGradients transformer, embedding (16x64 tokens, n_steps=50)",
            lambda: ours.attribute(batch, torch.zeros_like(batch), target=1, n_steps=50),
            lambda: theirs.attribute(batch, torch.zeros_like(batch), target=1, n_steps=50),
            None,
            max_abs_diff,
            theirs_best=lambda: theirs.attribute(
                batch, torch.zeros_like(batch), target=1, n_steps=50, internal_batch_size=chunk16
            ),
            settings=AUTO_IBS,
            best=f"Captum internal_batch_size={chunk16} (perspicio's automatic chunk here)",
        )
    )
    return out
