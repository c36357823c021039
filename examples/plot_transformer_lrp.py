"""
A transformer explained in one backward pass (AttnLRP)
======================================================

LRP on a GPT-2: the attention-aware rules of AttnLRP carry the answer's logit back through
the layer norms, the attention and the MLPs to the prompt's tokens, in one forward and one
backward pass. Integrated Gradients, shown beside it, takes fifty.
"""

# %%
import matplotlib.pyplot as plt
import torch

from perspicio.core import LayerLRP
from perspicio.text import explain_generation
from perspicio.text.demo_lm import capital_cities_lm

torch.set_num_threads(2)
model, tokenizer = capital_cities_lm()  # a small GPT-2, trained on first use (cached)
prompt = "it rained in oslo . my friend likes chile . the capital of kenya is"

# %%
# The front end: ``method="layer_lrp"`` explains the answer token's logit at the
# embedding layer; ``layer_integrated_gradients`` its log-probability.
lrp = explain_generation(model, tokenizer, prompt, target="nairobi", method="layer_lrp")
ig = explain_generation(
    model, tokenizer, prompt, target="nairobi", method="layer_integrated_gradients"
)
fig, axes = plt.subplots(2, 1, figsize=(9, 4.5), sharex=True)
for ax, res, name in [(axes[0], lrp, "AttnLRP (1 pass)"), (axes[1], ig, "Integrated Gradients")]:
    values = res.seq_attr / res.seq_attr.abs().max()
    ax.bar(range(len(values)), values, color=["C3" if v > 0 else "C0" for v in values])
    ax.set_ylabel(name)
axes[1].set_xticks(range(len(lrp.input_tokens)), lrp.input_tokens, rotation=60)
fig.suptitle("which prompt tokens made the model answer 'nairobi'?")
fig.tight_layout()
fig

# %%
# The same in core terms: ``LayerLRP`` at the embedding layer of a model taking token ids.
ids = torch.tensor([tokenizer.encode(prompt)])
nairobi = tokenizer.encode("nairobi", add_special_tokens=False)[0]


class Logits(torch.nn.Module):
    def __init__(self, model):
        super().__init__()
        self.model = model

    def forward(self, ids):
        return self.model(input_ids=ids).logits


relevance = LayerLRP(Logits(model), model.get_input_embeddings()).attribute(
    ids, target=(ids.shape[1] - 1, nairobi)
)
per_token = relevance.sum(-1)[0]
top = per_token.argsort(descending=True)[:3]
print("most relevant:", tokenizer.convert_ids_to_tokens(ids[0, top].tolist()))
