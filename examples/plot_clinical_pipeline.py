"""
A clinical table through a scikit-learn pipeline
================================================

A random forest behind a ``ColumnTransformer`` that imputes and scales the numbers and
one-hot encodes the categories, on a generated clinical table with text, categorical,
boolean and missing values. ``tabular.Explainer`` takes the pipeline and the raw DataFrame
and gives the exact Shapley value of each column of the table (one value for ``smoker``,
not one per one-hot column), adding up to the pipeline's own probability.
"""

# %%
import torch

from perspicio import tabular
from perspicio.tabular.demo import clinical_pipeline

torch.set_num_threads(2)
pipe, background, rows = clinical_pipeline()  # fitted on 640 patients, 160 held out
print(background.dtypes.to_dict())
explainer = tabular.Explainer(pipe, background, background_name="the training split")
exp = explainer.explain(rows.iloc[:3], target=1)  # the probability of an event
print(explainer.parameters()["algorithm"])
print(exp.to_frame().head(7))

# %%
# The waterfall names each column's value as the table holds it.
exp.plot(row=0)

# %%
# Every held-out patient: categorical columns get a colour per category, missing values
# are grey.
report = explainer.global_importance(rows, target=1, show_progress=False)
report.plot_global()

# %%
# A strip per smoking status, coloured by sex.
report.plot_dependence("smoker", color_by="sex")
