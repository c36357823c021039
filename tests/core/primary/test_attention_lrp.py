"""AttnLRP and CP-LRP behind LRP/LayerLRP: the rules against a literal re-implementation,
conservation, Hugging Face and torchvision transformers, threads, and clear errors."""

from __future__ import annotations

import math
import threading

import pytest
import torch
import torch.nn.functional as F
from torch import nn

from perspicio.core import LRP, LayerLRP
from perspicio.core.primary.lrp_rules import EpsilonRule, GammaRule

torch.set_num_threads(1)
D, T = 4, 3


class Block(nn.Module):
    """Attention with ``torch.matmul`` and softmax, then a gated MLP (SiLU gate)."""

    def __init__(self, bias: bool = True) -> None:
        super().__init__()
        self.ln1, self.ln2 = nn.LayerNorm(D, bias=bias), nn.LayerNorm(D, bias=bias)
        self.q, self.k, self.v, self.o = (nn.Linear(D, D, bias=bias) for _ in range(4))
        self.gate, self.up = nn.Linear(D, 2 * D, bias=bias), nn.Linear(D, 2 * D, bias=bias)
        self.down = nn.Linear(2 * D, D, bias=bias)

    def forward(self, x):
        h = self.ln1(x)
        scores = torch.matmul(self.q(h), self.k(h).transpose(-1, -2)) / math.sqrt(D)
        x = x + self.o(torch.matmul(scores.softmax(-1), self.v(h)))
        h = self.ln2(x)
        return x + self.down(F.silu(self.gate(h)) * self.up(h))


class TwoLayers(nn.Module):
    def __init__(self, bias: bool = True) -> None:
        super().__init__()
        self.blocks = nn.ModuleList([Block(bias), Block(bias)])
        self.head = nn.Linear(D, 2, bias=bias)

    def forward(self, x):
        for block in self.blocks:
            x = block(x)
        return self.head(x[:, -1])


def _model(bias: bool = True, seed: int = 0) -> TwoLayers:
    torch.manual_seed(seed)
    model = TwoLayers(bias).double()
    with torch.no_grad():  # biases and LayerNorm affines away from their initial 0 and 1
        for p in model.parameters():
            p.add_(0.3 * torch.randn_like(p))
    return model.eval()


# --- a literal, slow re-implementation of the rules, in relevance space ------------------
def _linear_rule(x, weight, bias, r_out):
    """LRP-0: R_i = sum_j x_i w_ji / z_j R_j (the bias keeps its share)."""
    z = [sum(x[i] * weight[j][i] for i in range(len(x))) + bias[j] for j in range(len(bias))]
    return [
        sum(x[i] * weight[j][i] / z[j] * r_out[j] for j in range(len(bias))) for i in range(len(x))
    ]


def _layer_norm_rule(x, ln, r_out):
    """1/sigma held constant: y = M x + b with M_ji = w_j (delta_ij - 1/N) / sigma."""
    n = len(x)
    mean = sum(x) / n
    sigma = math.sqrt(sum((v - mean) ** 2 for v in x) / n + ln.eps)
    w = ln.weight.tolist()
    b = ln.bias.tolist() if ln.bias is not None else [0.0] * n
    m = [[w[j] * ((i == j) - 1 / n) / sigma for i in range(n)] for j in range(n)]
    return _linear_rule(x, m, b, r_out)


def _lin(layer, x):
    b = layer.bias.tolist() if layer.bias is not None else [0.0] * layer.out_features
    return [
        sum(layer.weight[j, i].item() * x[i] for i in range(len(x))) + b[j] for j in range(len(b))
    ]


def _lin_rule(layer, x, r_out):
    b = layer.bias.tolist() if layer.bias is not None else [0.0] * layer.out_features
    return _linear_rule(x, layer.weight.tolist(), b, r_out)


def _ln(layer, x):
    n = len(x)
    mean = sum(x) / n
    sigma = math.sqrt(sum((v - mean) ** 2 for v in x) / n + layer.eps)
    b = layer.bias.tolist() if layer.bias is not None else [0.0] * n
    return [layer.weight[j].item() * (x[j] - mean) / sigma + b[j] for j in range(n)]


def _block_rule(block: Block, xs: list[list[float]], r_out: list[list[float]]):
    """Forward literally, then back: the relevance of the block's input tokens."""
    h = [_ln(block.ln1, x) for x in xs]
    q, k, v = ([_lin(layer, t) for t in h] for layer in (block.q, block.k, block.v))
    raw = [[sum(q[a][d] * k[b][d] for d in range(D)) for b in range(T)] for a in range(T)]
    scaled = [[s / math.sqrt(D) for s in row] for row in raw]
    attn = []
    for row in scaled:
        e = [math.exp(s - max(row)) for s in row]
        attn.append([v_ / sum(e) for v_ in e])
    ctx = [[sum(attn[a][b] * v[b][d] for b in range(T)) for d in range(D)] for a in range(T)]
    mid = [[xs[a][d] + _lin(block.o, ctx[a])[d] for d in range(D)] for a in range(T)]
    h2 = [_ln(block.ln2, x) for x in mid]
    g = [_lin(block.gate, t) for t in h2]
    act = [[u / (1 + math.exp(-u)) for u in row] for row in g]
    up = [_lin(block.up, t) for t in h2]
    prod = [[act[a][i] * up[a][i] for i in range(2 * D)] for a in range(T)]
    mlp = [_lin(block.down, p) for p in prod]
    # back: residual y = mid + mlp, each part its share y_i = mid_i + mlp_i
    out = [[mid[a][d] + mlp[a][d] for d in range(D)] for a in range(T)]
    r_mid = [[mid[a][d] / out[a][d] * r_out[a][d] for d in range(D)] for a in range(T)]
    r_mlp = [[mlp[a][d] / out[a][d] * r_out[a][d] for d in range(D)] for a in range(T)]
    r_prod = [_lin_rule(block.down, prod[a], r_mlp[a]) for a in range(T)]
    r_act = [[0.5 * r for r in row] for row in r_prod]  # uniform rule of act * up
    r_up = [[0.5 * r for r in row] for row in r_prod]
    # identity rule of the SiLU, with its stabiliser: g_in = g_out * f(x) / (x + 1e-10)
    r_g = [[r * u / (u + 1e-10) for r, u in zip(r_act[a], g[a])] for a in range(T)]
    r_h2 = [
        [
            a_ + b_
            for a_, b_ in zip(
                _lin_rule(block.gate, h2[a], r_g[a]), _lin_rule(block.up, h2[a], r_up[a])
            )
        ]
        for a in range(T)
    ]
    r_mid = [
        [r_mid[a][d] + _layer_norm_rule(mid[a], block.ln2, r_h2[a])[d] for d in range(D)]
        for a in range(T)
    ]
    # residual mid = x + o(ctx)
    o_out = [_lin(block.o, c) for c in ctx]
    r_x = [[xs[a][d] / mid[a][d] * r_mid[a][d] for d in range(D)] for a in range(T)]
    r_o = [[o_out[a][d] / mid[a][d] * r_mid[a][d] for d in range(D)] for a in range(T)]
    r_ctx = [_lin_rule(block.o, ctx[a], r_o[a]) for a in range(T)]
    # ctx = attn @ v, uniform rule: each factor half of each term's share
    r_attn = [[0.0] * T for _ in range(T)]
    r_v = [[0.0] * D for _ in range(T)]
    for a in range(T):
        for d in range(D):
            for b in range(T):
                share = attn[a][b] * v[b][d] / ctx[a][d] * r_ctx[a][d]
                r_attn[a][b] += 0.5 * share
                r_v[b][d] += 0.5 * share
    # softmax: R_in_i = x_i (R_i - s_i sum_j R_j)
    r_scaled = [
        [scaled[a][b] * (r_attn[a][b] - attn[a][b] * sum(r_attn[a])) for b in range(T)]
        for a in range(T)
    ]
    # the scaling by 1/sqrt(D) passes relevance on; raw = q @ k.T, uniform rule
    r_q = [[0.0] * D for _ in range(T)]
    r_k = [[0.0] * D for _ in range(T)]
    for a in range(T):
        for b in range(T):
            for d in range(D):
                share = q[a][d] * k[b][d] / raw[a][b] * r_scaled[a][b]
                r_q[a][d] += 0.5 * share
                r_k[b][d] += 0.5 * share
    r_h = [
        [
            sum(parts)
            for parts in zip(
                _lin_rule(block.q, h[a], r_q[a]),
                _lin_rule(block.k, h[a], r_k[a]),
                _lin_rule(block.v, h[a], r_v[a]),
            )
        ]
        for a in range(T)
    ]
    return [
        [r_x[a][d] + _layer_norm_rule(xs[a], block.ln1, r_h[a])[d] for d in range(D)]
        for a in range(T)
    ], out


def _literal(model: TwoLayers, x: torch.Tensor, target: int) -> torch.Tensor:
    with torch.no_grad():
        acts = [x[0].tolist()]
        for block in model.blocks:
            acts.append(block(torch.tensor([acts[-1]], dtype=torch.float64))[0].tolist())
    last = acts[-1][-1]
    logits = _lin(model.head, last)
    r_head = [0.0, 0.0]
    r_head[target] = logits[target]
    r = [[0.0] * D for _ in range(T)]
    r[-1] = _lin_rule(model.head, last, r_head)
    for block, xs in zip(reversed(model.blocks), reversed(acts[:-1])):
        r, _ = _block_rule(block, xs, r)
    return torch.tensor([r], dtype=torch.float64)


def test_equals_a_literal_implementation_of_the_rules():
    model = _model()
    x = torch.randn(1, T, D, dtype=torch.float64, generator=torch.Generator().manual_seed(3))
    for target in (0, 1):
        ours = LRP(model).attribute(x, target=target)
        expected = _literal(model, x, target)
        scale = expected.abs().max()
        assert scale > 0.05
        torch.testing.assert_close(ours, expected, atol=1e-12 * scale, rtol=0)


def test_the_default_variant_sees_an_attention_written_with_matmul():
    """Every leaf is a Linear or LayerNorm (the layer rules would accept them all), but the
    forward pass multiplies computed tensors: the attention-aware rules are used."""
    model = _model()
    x = torch.randn(2, T, D, dtype=torch.float64)
    torch.testing.assert_close(
        LRP(model).attribute(x, target=1), LRP(model, variant="attnlrp").attribute(x, target=1)
    )
    plain = nn.Sequential(nn.Linear(3, 4), nn.ReLU(), nn.Linear(4, 1))
    assert LRP(plain).variant == "layers"


def test_relevance_is_conserved_where_the_rules_conserve():
    """Without biases the only operation that keeps relevance is the softmax; the audit
    balances to rounding and names it."""
    model = _model(bias=False)
    x = torch.randn(3, T, D, dtype=torch.float64, generator=torch.Generator().manual_seed(4))
    lrp = LRP(model)
    audit = lrp.audit(x, target=0)
    kept = {k: v for k, v in audit.absorbed.items() if abs(v) > 1e-9}
    assert set(kept) == {"softmax"}  # (the SiLU's identity rule: 1e-11, its stabiliser)
    assert abs(audit.output - audit.relevance - sum(audit.absorbed.values())) < 1e-12
    rel, delta = lrp.attribute(x, target=0, return_convergence_delta=True)
    assert float(delta.sum()) == pytest.approx(sum(audit.absorbed.values()), abs=1e-12)
    # with biases, they keep their share too, and the books still balance
    audit = LRP(_model()).audit(x, target=0)
    assert abs(audit.absorbed["linear"]) > 1e-3
    total = audit.relevance + sum(audit.absorbed.values())
    assert audit.output == pytest.approx(total, abs=1e-10)


def test_each_block_conserves_what_reaches_it():
    """Per layer, bias-free: under CP-LRP every block passes on exactly the relevance that
    reaches it; under AttnLRP each block keeps its softmax's share, and the blocks' shares
    add up to what the audit says the softmax kept."""
    model = _model(bias=False)
    x = torch.randn(2, T, D, dtype=torch.float64)
    blocks = [model.blocks[0], model.blocks[1], model.head]
    logits = model(x)[:, 1]
    kept = 0.0
    for variant in ("cp-lrp", "attnlrp"):
        into = LayerLRP(model, blocks, variant=variant).attribute(
            x, target=1, attribute_to_layer_input=True
        )
        out = LayerLRP(model, blocks, variant=variant).attribute(x, target=1)
        torch.testing.assert_close(out[2].sum(1), logits)  # the head's output: the logit
        torch.testing.assert_close(into[2].sum(1), logits)  # bias-free linear: conserved
        for i in (0, 1):
            lost = out[i].sum((1, 2)) - into[i].sum((1, 2))
            if variant == "cp-lrp":
                torch.testing.assert_close(lost, torch.zeros_like(lost), atol=1e-12, rtol=0)
            else:
                kept += float(lost.sum())
    softmax = LRP(model).audit(x, target=1).absorbed["softmax"]
    assert abs(softmax) > 1e-3 and kept == pytest.approx(softmax, abs=1e-10)


def test_cp_lrp_holds_the_attention_weights_and_conserves():
    model = _model(bias=False)
    x = torch.randn(2, T, D, dtype=torch.float64)
    audit = LRP(model, variant="cp-lrp").audit(x, target=1)
    assert audit.output == pytest.approx(audit.relevance, abs=1e-9)  # nothing is kept
    assert not torch.allclose(
        LRP(model, variant="cp-lrp").attribute(x, target=1), LRP(model).attribute(x, target=1)
    )


def test_module_rules_apply_in_the_attention_aware_variant():
    """A rule given to a module (epsilon, gamma) is that module's rule in gradient form:
    on an MLP both variants compute the same LRP-epsilon and LRP-gamma."""
    torch.manual_seed(0)
    net = nn.Sequential(nn.Linear(5, 6), nn.ReLU(), nn.Linear(6, 2)).double()
    x = torch.randn(4, 5, dtype=torch.float64)
    for rule in (EpsilonRule(0.1), GammaRule(0.5)):
        rules = {net[0]: rule, net[2]: EpsilonRule(0.01)}
        torch.testing.assert_close(
            LRP(net, rules=rules, variant="attnlrp").attribute(x, target=1),
            LRP(net, rules=rules, variant="layers").attribute(x, target=1),
        )


def test_an_operation_without_a_rule_is_named():
    class Exp(nn.Module):
        def __init__(self):
            super().__init__()
            self.norm, self.fc = nn.LayerNorm(4), nn.Linear(4, 1)

        def forward(self, x):
            return self.fc(torch.exp(self.norm(x)))

    with pytest.raises(TypeError, match="no rule for the operation 'exp'.*IdentityRule"):
        LRP(Exp()).attribute(torch.randn(2, 4))
    with pytest.raises(ValueError, match="variant must be"):
        LRP(Exp(), variant="lxt")


def test_several_threads_at_once_and_the_model_as_found():
    model = _model()
    x = torch.randn(6, T, D, dtype=torch.float64)
    alone = LRP(model).attribute(x, target=0)
    model.train()
    model.blocks[0].q.weight.requires_grad_(False)
    found, errors = [None] * 6, []

    def run(i):
        try:
            found[i] = LRP(model).attribute(x[i : i + 1], target=0)
        except Exception as err:  # noqa: BLE001
            errors.append(err)

    threads = [threading.Thread(target=run, args=(i,)) for i in range(6)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert not errors
    torch.testing.assert_close(torch.cat(found), alone)
    assert model.training and not model.blocks[0].q.weight.requires_grad
    assert all(not m._forward_hooks and not m._forward_pre_hooks for m in model.modules())
    assert not torch.overrides._get_current_function_mode_stack()
