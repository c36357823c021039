"""
Which prompt words made a language model answer?
================================================

A small GPT-2 trained here on sentences such as "i flew to peru . the capital of japan is
tokyo ." answers a prompt; feature ablation switches each part of the prompt off and
measures how the log-probability of the answer changes.
"""

# %%
import torch

from perspicio.core import FeatureAblation, LLMAttribution, TextTemplateInput
from perspicio.text import explain_generation
from perspicio.text.demo_lm import capital_cities_lm

torch.set_num_threads(2)
model, tokenizer = capital_cities_lm()  # trained on first use (cached)

# %%
# One call: the greedy answer and each prompt word's attribution to it.
res = explain_generation(
    model,
    tokenizer,
    "it rained in oslo . the capital of kenya is",
    gen_args={"max_new_tokens": 2, "do_sample": False},
)
print(res.output_tokens)
print({word: round(value, 2) for word, value in res.seq_attr_dict.items()})

# %%
# A template: which sentence, or the country, decided the answer?
inp = TextTemplateInput(
    "{} {} the capital of {} is", ["i flew to peru .", "it rained in oslo .", "japan"]
)
res = LLMAttribution(FeatureAblation(model), tokenizer).attribute(
    inp, target="tokyo . the capital of spain is madrid", skip_tokens=[tokenizer.bos_token_id]
)
fig, ax = res.plot_token_attr()
fig
