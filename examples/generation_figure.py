"""Make docs/images/generation_*.png: which words of a prompt made the demo GPT-2 answer.

.venv/bin/python examples/generation_figure.py
"""

from pathlib import Path

import torch

from perspicio.core import FeatureAblation, LLMAttribution, TextTemplateInput
from perspicio.text.demo_lm import capital_cities_lm

OUT = Path(__file__).resolve().parents[1] / "docs" / "images"


def main() -> None:
    torch.set_num_threads(1)
    model, tokenizer = capital_cities_lm()
    inp = TextTemplateInput(
        "{} {} the capital of {} is", ["i flew to peru .", "it rained in oslo .", "japan"]
    )
    bos = tokenizer.bos_token_id
    res = LLMAttribution(FeatureAblation(model), tokenizer).attribute(
        inp, target="tokyo . the capital of spain is madrid", skip_tokens=[bos]
    )
    print(res)
    OUT.mkdir(parents=True, exist_ok=True)
    fig, _ = res.plot_token_attr()
    fig.savefig(OUT / "generation_token_attr.png", dpi=110)
    fig, _ = res.plot_seq_attr()
    fig.savefig(OUT / "generation_seq_attr.png", dpi=110)


if __name__ == "__main__":
    main()
