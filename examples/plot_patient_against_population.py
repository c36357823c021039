"""
A patient against the training population
=========================================

The breast-cancer demo MLP takes the 30 raw measurements of a patient. Explained against
the training split's mean patient, each measurement's attribution says how far it moves the
"benign" logit from the reference's score to this patient's: a waterfall.
"""

# %%
import torch

from perspicio import tabular
from perspicio.tabular.demo import breast_cancer_mlp

torch.set_num_threads(2)
model, background, rows = breast_cancer_mlp()  # 455 training patients, 114 held out
explainer = tabular.Explainer(model, background, background_name="the training split")
exp = explainer.explain(rows.iloc[[0]])  # one held-out patient, Integrated Gradients
print(exp.background)
print(exp.summary)

# %%
exp.plot(row=0)

# %%
# The same patient with KernelShap over the same reference (exact Shapley values of the
# game the reference defines, estimated from 200 coalitions), as a tidy table.
shap_exp = tabular.Explainer(model, background, method="kernel_shap", seed=0).explain(
    rows.iloc[[0]]
)
print(shap_exp.to_frame().sort_values("attribution", key=abs, ascending=False).head(8))
