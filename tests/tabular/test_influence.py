"""The tabular front end of training-data influence: which rows drove a prediction and which
look mislabelled, on the breast-cancer MLP trained with 5% of its labels flipped."""

import pytest
import torch

from perspicio import tabular
from perspicio.tabular.demo import breast_cancer_mislabeled

torch.set_num_threads(1)


@pytest.fixture(scope="module")
def demo():
    return breast_cancer_mislabeled()


@pytest.mark.parametrize("method", ["tracin", "tracin_fast"])
def test_the_flipped_rows_lead_the_likely_mislabelled_table(demo, method):
    influence = tabular.TrainingInfluence(
        demo.model, demo.X_train, demo.y_train, demo.checkpoints, method=method
    )
    top = round(0.05 * len(demo.X_train))
    table = influence.likely_mislabeled(top=top)
    flipped = set(demo.X_train.index[demo.flipped])
    assert len(flipped & set(table.training_row)) / top >= 0.5
    assert table.self_influence.is_monotonic_decreasing
    assert (table.label == demo.y_train.loc[table.training_row].to_numpy()).all()


def test_most_influential_rows_explain_the_prediction_and_the_report_escapes(demo):
    influence = tabular.TrainingInfluence(demo.model, demo.X_train, demo.y_train, demo.checkpoints)
    rows = demo.X_test.iloc[:4]
    table = influence.most_influential(rows, k=5)
    assert list(table.columns) == ["row", "rank", "training_row", "influence", "training_label"]
    assert len(table) == 20 and set(table.row) == set(rows.index)
    with torch.no_grad():
        predicted = demo.model(torch.tensor(rows.to_numpy(), dtype=torch.float32)).argmax(1)
    # the proponents of a prediction carry the predicted class
    for r, p in zip(rows.index, predicted.tolist()):
        assert (table[table.row == r].training_label == p).mean() >= 0.8
    opponents = influence.most_influential(rows, k=3, opponents=True)
    assert (opponents.influence.to_numpy() <= table.influence.min()).all()
    renamed = demo.X_train.rename(columns={demo.X_train.columns[0]: "<b>radius</b>"})
    page = tabular.TrainingInfluence(demo.model, renamed, demo.y_train, demo.checkpoints).report(
        rows=None, top=5
    )
    assert "<b>radius" not in page and "Training rows that look mislabelled" in page


def test_bad_input_is_named(demo):
    with pytest.raises(ValueError, match="`y_train`"):
        tabular.TrainingInfluence(demo.model, demo.X_train, demo.y_train[:10], demo.checkpoints)
    with pytest.raises(ValueError, match="`method`"):
        tabular.TrainingInfluence(
            demo.model, demo.X_train, demo.y_train, demo.checkpoints, method="arnoldi"
        )
    with pytest.raises(TypeError, match="`model`"):
        tabular.TrainingInfluence(lambda x: x, demo.X_train, demo.y_train, demo.checkpoints)
    influence = tabular.TrainingInfluence(demo.model, demo.X_train, demo.y_train, demo.checkpoints)
    with pytest.raises((ValueError, TypeError), match="`rows`"):
        influence.most_influential(demo.X_test.iloc[:2, :5])
