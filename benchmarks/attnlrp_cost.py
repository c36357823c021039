"""AttnLRP's cost against one plain gradient call on the same model (time and peak memory).

python -m benchmarks.attnlrp_cost [--threads 2] [--repeats 5] [--device cpu]

Cases (float32, batch 1, the target logit explained):

* the demo GPT-2 (``perspicio.text.demo_lm.capital_cities_lm``), a 41-token prompt;
* a 12-layer, 768-wide BERT encoder built from ``BertConfig()`` (random weights), 128 tokens;
* a 4-layer, 512-wide LLaMA-style decoder from a config, a 2,000-token prompt (memory only
  matters there: that it runs, and what it takes).

Both sides take the input embeddings as the input: "gradient" is one call of
``InputXGradient`` (a forward pass and ``torch.autograd.grad``), "AttnLRP" one call of
``LRP``. Time: the median of ``--repeats`` runs, the two alternating in one process after a
warm-up of each. Peak memory: each side in a fresh subprocess, the resident set's high-water
mark (``VmHWM``, reset through ``/proc/self/clear_refs`` once the model is built) minus the
resident set before the call; on CUDA, ``torch.cuda.max_memory_allocated`` the same way.
"""

from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import sys
import time

import torch
from torch import nn

CASES = ("gpt2-demo", "bert-12x768", "llama-4x512-2000")


class Embeds(nn.Module):
    """A Hugging Face model as a function of its input embeddings to its logits."""

    def __init__(self, model: nn.Module) -> None:
        super().__init__()
        self.model = model

    def forward(self, embeds: torch.Tensor) -> torch.Tensor:
        return self.model(inputs_embeds=embeds).logits


def build(name: str, device: str):
    """The wrapped model, its input embeddings and the target."""
    import transformers

    torch.manual_seed(0)
    if name == "gpt2-demo":
        from perspicio.text.demo_lm import capital_cities_lm

        model, tokenizer = capital_cities_lm()
        words = (
            "i flew to peru . it rained in oslo . we ate soup . the dog sat on the mat . "
            "my friend likes chile . a fox ran home . india is big . the capital of japan is"
        )
        ids = torch.tensor([tokenizer.encode(words)])
    elif name == "bert-12x768":
        config = transformers.BertConfig(vocab_size=1000)  # 12 layers, 768 wide, 12 heads
        model = transformers.BertForSequenceClassification(config)
        ids = torch.randint(5, 1000, (1, 128))
    else:
        config = transformers.LlamaConfig(
            vocab_size=1000,
            hidden_size=512,
            intermediate_size=1376,
            num_hidden_layers=4,
            num_attention_heads=8,
            num_key_value_heads=8,
            max_position_embeddings=4096,
        )
        model = transformers.LlamaForCausalLM(config)
        ids = torch.randint(5, 1000, (1, 2000))
    model = model.float().eval().to(device)
    embeds = model.get_input_embeddings()(ids.to(device)).detach()
    wrapped = Embeds(model)
    with torch.no_grad():
        logits = wrapped(embeds)
    last = logits[0, -1] if logits.dim() == 3 else logits[0]
    target = int(last.argmax())
    target = (ids.shape[1] - 1, target) if logits.dim() == 3 else target
    return wrapped, embeds, target


def method(side: str, wrapped: nn.Module):
    from perspicio.core import LRP, InputXGradient

    return LRP(wrapped) if side == "attnlrp" else InputXGradient(wrapped)


def _rss_kib(field: str) -> int:
    with open("/proc/self/status") as f:
        for line in f:
            if line.startswith(field):
                return int(line.split()[1])
    raise RuntimeError(field)


def peak_memory(name: str, side: str, device: str) -> float:
    """MiB above the resident set (or CUDA allocation) before one call (in this process)."""
    wrapped, embeds, target = build(name, device)
    explainer = method(side, wrapped)
    if device == "cuda":
        torch.cuda.synchronize()
        torch.cuda.reset_peak_memory_stats()
        before = torch.cuda.memory_allocated()
        explainer.attribute(embeds, target=target)
        torch.cuda.synchronize()
        return (torch.cuda.max_memory_allocated() - before) / 2**20
    with open("/proc/self/clear_refs", "w") as f:
        f.write("5")  # reset VmHWM to the current resident set
    before = _rss_kib("VmRSS")
    explainer.attribute(embeds, target=target)
    return (_rss_kib("VmHWM") - before) / 1024


def timings(name: str, device: str, repeats: int) -> dict[str, float]:
    wrapped, embeds, target = build(name, device)
    sides = {s: method(s, wrapped) for s in ("gradient", "attnlrp")}
    found: dict[str, list[float]] = {s: [] for s in sides}
    for _ in range(repeats + 1):  # the first round warms up
        for side, explainer in sides.items():
            if device == "cuda":
                torch.cuda.synchronize()
            t0 = time.perf_counter()
            explainer.attribute(embeds, target=target)
            if device == "cuda":
                torch.cuda.synchronize()
            found[side].append(time.perf_counter() - t0)
    return {s: statistics.median(v[1:]) for s, v in found.items()}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--cases", default=",".join(CASES))
    parser.add_argument("--memory-of", nargs=2, metavar=("CASE", "SIDE"), help=argparse.SUPPRESS)
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    if args.memory_of:
        print(json.dumps(peak_memory(*args.memory_of, args.device)))
        return
    print(f"torch {torch.__version__}, {args.threads} threads, device {args.device}")
    print(
        f"{'case':<20} {'gradient s':>11} {'AttnLRP s':>10} {'ratio':>6} "
        f"{'grad MiB':>9} {'LRP MiB':>8} {'ratio':>6}"
    )
    for name in args.cases.split(","):
        times = (
            timings(name, args.device, args.repeats)
            if "2000" not in name
            else {"gradient": float("nan"), "attnlrp": float("nan")}
        )
        memory = {}
        for side in ("gradient", "attnlrp"):
            out = subprocess.run(
                [
                    sys.executable,
                    "-m",
                    "benchmarks.attnlrp_cost",
                    "--threads",
                    str(args.threads),
                    "--device",
                    args.device,
                    "--memory-of",
                    name,
                    side,
                ],
                capture_output=True,
                text=True,
                check=True,
            )
            memory[side] = json.loads(out.stdout.strip().splitlines()[-1])
        if "2000" in name:  # the long prompt: time one call each
            times = timings(name, args.device, 1)
        print(
            f"{name:<20} {times['gradient']:>11.3f} {times['attnlrp']:>10.3f} "
            f"{times['attnlrp'] / times['gradient']:>6.2f} {memory['gradient']:>9.1f} "
            f"{memory['attnlrp']:>8.1f} {memory['attnlrp'] / memory['gradient']:>6.2f}"
        )


if __name__ == "__main__":
    main()
