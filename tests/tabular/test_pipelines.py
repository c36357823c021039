"""Raw DataFrames through scikit-learn pipelines, explained on the original columns.

Ground truths: Shapley values by enumeration of every coalition of the original columns
through the pipeline's own ``predict_proba`` / ``decision_function`` (interventional game,
each background row in turn), and through the trees' cover (path-dependent game), on float64
tables with a category of three levels, a text column, an integer column and missing values.
"""

from __future__ import annotations

import itertools
import math

import numpy as np
import pandas as pd
import pytest
import torch
from sklearn.compose import ColumnTransformer
from sklearn.decomposition import PCA
from sklearn.ensemble import (
    GradientBoostingClassifier,
    HistGradientBoostingClassifier,
    RandomForestClassifier,
    RandomForestRegressor,
)
from sklearn.impute import SimpleImputer
from sklearn.linear_model import LogisticRegression
from sklearn.neural_network import MLPClassifier
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import OneHotEncoder, OrdinalEncoder, PolynomialFeatures, StandardScaler
from sklearn.tree import DecisionTreeRegressor

from perspicio import tabular
from perspicio.tabular.pipeline import column_players


def table(n: int = 300, seed: int = 0) -> tuple[pd.DataFrame, pd.Series]:
    rng = np.random.default_rng(seed)
    frame = pd.DataFrame(
        {
            "age": rng.integers(20, 80, n).astype(np.int64),
            "bmi": np.where(rng.random(n) < 0.1, np.nan, rng.normal(27, 4, n)),
            "sex": rng.choice(["F", "M"], n).astype(object),
            "smoker": pd.Categorical(rng.choice(["no", "yes", "former"], n)),
            "unused": rng.normal(size=n),
        }
    )
    smoke = frame.smoker.map({"no": 0.0, "former": 1.0, "yes": 2.0}).astype(float)
    score = (frame.age - 50) / 15 + smoke + (frame.sex == "F") * (frame.bmi.fillna(27) - 27) / 4
    return frame, pd.Series((score + rng.normal(0, 0.5, n) > 0.8).astype(int))


def preprocessing(drop_unused: bool = True) -> ColumnTransformer:
    numbers = make_pipeline(SimpleImputer(), StandardScaler())
    return ColumnTransformer(
        [
            ("num", numbers, ["age", "bmi"]),
            ("cat", OneHotEncoder(handle_unknown="ignore"), ["sex", "smoker"]),
        ],
        remainder="drop" if drop_unused else "passthrough",
    )


def interventional_brute_force(f, row: pd.DataFrame, background: pd.DataFrame) -> np.ndarray:
    """Shapley values of ``f`` at ``row`` over the original columns: coalition S takes the
    row's values on S and a background row's elsewhere, averaged over the background."""
    columns = list(row.columns)
    n = len(columns)
    coalitions = list(itertools.product([0, 1], repeat=n))
    frames = []
    for z in range(len(background)):
        for mask in coalitions:
            mixed = background.iloc[[z]].copy()
            for j, keep in enumerate(mask):
                if keep:
                    mixed[columns[j]] = row[columns[j]].to_numpy()
            frames.append(mixed)
    values = np.asarray(f(pd.concat(frames, ignore_index=True)), dtype=np.float64)
    values = values.reshape(len(background), len(coalitions))
    v = dict(zip(coalitions, values.mean(0)))
    phi = np.zeros(n)
    for mask in coalitions:
        size = sum(mask)
        for i in range(n):
            if mask[i]:
                without = mask[:i] + (0,) + mask[i + 1 :]
                weight = math.factorial(size - 1) * math.factorial(n - size) / math.factorial(n)
                phi[i] += weight * (v[mask] - v[without])
    return phi


@pytest.fixture(scope="module")
def data():
    frame, y = table()
    return frame, y, frame.iloc[:40], frame.iloc[200:206]


@pytest.mark.parametrize(
    "estimator, output",
    [
        (RandomForestClassifier(20, max_depth=6, random_state=0), None),
        (HistGradientBoostingClassifier(max_iter=15, max_depth=5, random_state=0), None),
        (HistGradientBoostingClassifier(max_iter=15, max_depth=5, random_state=0), "margin"),
        (GradientBoostingClassifier(n_estimators=10, max_depth=5, random_state=0), None),
    ],
    ids=["forest", "histgb-probability", "histgb-margin", "gb-probability"],
)
def test_trees_in_a_pipeline_equal_brute_force_over_the_original_columns(data, estimator, output):
    frame, y, background, rows = data
    pipe = make_pipeline(preprocessing(), estimator).fit(frame, y)
    explainer = tabular.Explainer(pipe, background, output=output)
    assert explainer.method == "tree_shap" and explainer.tree is not None
    # a forest's probabilities are one output per class; a boosted binary classifier's
    # probability (its margin rescaled) and margin are the positive class's only
    forest = isinstance(estimator, RandomForestClassifier)
    exp = explainer.explain(rows, target=1 if forest else None)
    assert exp.features == list(frame.columns) and exp.attributions.dtype == torch.float64
    if output == "margin":
        f = pipe.decision_function
    else:
        f = lambda X: pipe.predict_proba(X)[:, 1]  # noqa: E731
    for i in range(len(rows)):
        if output is None and not forest:
            # the margin's exact values against each background row, rescaled onto the
            # probability (as for a boosted model explained alone)
            expected = np.mean(
                [
                    _rescaled(pipe, rows.iloc[[i]], background.iloc[[z]])
                    for z in range(len(background))
                ],
                axis=0,
            )
        else:
            expected = interventional_brute_force(f, rows.iloc[[i]], background)
        np.testing.assert_allclose(exp.attributions[i].numpy(), expected, atol=1e-9)
    # adds up to the pipeline's own output, and the dropped column gets exactly 0
    own = torch.from_numpy(np.asarray(f(rows), dtype=np.float64))
    torch.testing.assert_close(exp.scores, own, rtol=0, atol=1e-12)
    gap = own - torch.from_numpy(np.asarray(f(background), dtype=np.float64)).mean()
    torch.testing.assert_close(exp.attributions.sum(1), gap, rtol=0, atol=1e-9)
    assert (exp.attributions[:, frame.columns.get_loc("unused")] == 0).all()


def _rescaled(pipe, row: pd.DataFrame, reference: pd.DataFrame) -> np.ndarray:
    """The margin's Shapley values against one reference row, scaled so that they add up
    to the probability's difference from the reference's (log-loss: p = σ(margin))."""
    margin = interventional_brute_force(pipe.decision_function, row, reference)
    gap = pipe.decision_function(row)[0] - pipe.decision_function(reference)[0]
    p_gap = pipe.predict_proba(row)[0, 1] - pipe.predict_proba(reference)[0, 1]
    if gap == 0:  # values that cancel out: the limit, the link's slope p (1 - p)
        probability = pipe.predict_proba(row)[0, 1]
        return margin * probability * (1 - probability)
    return margin * (p_gap / gap)


def _cover_game(tree, players: list[int], x: np.ndarray, coalition: set[int]) -> float:
    """The path-dependent game of one fitted sklearn tree: a split on a player of the
    coalition follows the row, others split the way in proportion to training cover (the
    row compared in float32, as scikit-learn's trees compare it)."""
    t = tree.tree_
    x = x.astype(np.float32)

    def walk(node: int) -> float:
        if t.children_left[node] == -1:
            return float(t.value[node].reshape(-1)[0])
        f = t.feature[node]
        left, right = t.children_left[node], t.children_right[node]
        if players[f] in coalition:
            return walk(left if x[f] <= t.threshold[node] else right)
        w = t.weighted_n_node_samples
        return (w[left] * walk(left) + w[right] * walk(right)) / w[node]

    return walk(0)


def test_path_dependent_values_equal_the_cover_game_over_the_original_columns(data):
    frame, _, background, rows = data
    target = frame.age / 10 + frame.smoker.cat.codes * (frame.sex == "F") + frame.bmi.fillna(0) / 9
    pipe = make_pipeline(preprocessing(), RandomForestRegressor(5, max_depth=7, random_state=0))
    pipe.fit(frame, target)
    explainer = tabular.Explainer(pipe, background, method="tree_shap_path_dependent")
    exp = explainer.explain(rows)
    steps, forest = pipe[:-1], pipe[-1]
    players = column_players(steps, explainer.codec, background)
    encoded = steps.transform(rows)
    n = len(frame.columns)
    for i in range(len(rows)):
        v = {}
        for mask in itertools.product([0, 1], repeat=n):
            s = {j for j in range(n) if mask[j]}
            v[mask] = np.mean([_cover_game(t, players, encoded[i], s) for t in forest.estimators_])
        phi = np.zeros(n)
        for mask, value in v.items():
            for j in range(n):
                if mask[j]:
                    size = sum(mask)
                    w = math.factorial(size - 1) * math.factorial(n - size) / math.factorial(n)
                    phi[j] += w * (value - v[mask[:j] + (0,) + mask[j + 1 :]])
        np.testing.assert_allclose(exp.attributions[i].numpy(), phi, atol=1e-9)


def test_original_column_players_are_not_the_sum_of_one_hot_columns():
    # a three-level category and a flag: y = level * z, so one path tests several of the
    # category's one-hot columns; the explanation of the encoded columns summed per original
    # column is another game's answer
    rng = np.random.default_rng(1)
    n = 400
    frame = pd.DataFrame(
        {"level": rng.choice(["a", "b", "c"], n).astype(object), "z": rng.integers(0, 2, n)}
    )
    y = frame.level.map({"a": 1.0, "b": 2.0, "c": 3.0}) * frame.z
    steps = ColumnTransformer(
        [("cat", OneHotEncoder(sparse_output=False), ["level"])], remainder="passthrough"
    )
    pipe = make_pipeline(steps, DecisionTreeRegressor(max_depth=6, random_state=0)).fit(frame, y)
    background, rows = frame.iloc[:60], frame.iloc[[100, 101, 102, 103, 104, 105]]
    grouped = tabular.Explainer(pipe, background).explain(rows)
    encoded_bg = pd.DataFrame(steps.transform(background), columns=steps.get_feature_names_out())
    encoded_rows = pd.DataFrame(steps.transform(rows), columns=encoded_bg.columns)
    per_column = tabular.Explainer(pipe[-1], encoded_bg, groups={}).explain(encoded_rows)
    summed = per_column.attributions[:, :3].sum(1)  # the three one-hot columns of `level`
    for i in range(len(rows)):
        expected = interventional_brute_force(pipe.predict, rows.iloc[[i]], background)
        np.testing.assert_allclose(grouped.attributions[i].numpy(), expected, atol=1e-9)
    assert (grouped.attributions[:, 0] - summed).abs().max() > 0.02  # 0.039 of 0.3 here


def test_one_player_per_column_in_the_smallest_case():
    # the leaf reached when level == "a" and z == 1, explained at x = (a, 1) against
    # b = (b, 0): each original column is one player and gets half of the gap
    frame = pd.DataFrame({"level": ["a", "b", "c", "a"] * 25, "z": [1, 0, 1, 0] * 25})
    y = ((frame.level == "a") & (frame.z == 1)).astype(float)
    steps = ColumnTransformer([("cat", OneHotEncoder(), ["level"])], remainder="passthrough")
    pipe = make_pipeline(steps, DecisionTreeRegressor(random_state=0)).fit(frame, y)
    exp = tabular.Explainer(pipe, frame.iloc[[1]]).explain(frame.iloc[[0]])
    np.testing.assert_allclose(exp.attributions[0].numpy(), [0.5, 0.5], atol=1e-12)


@pytest.mark.parametrize(
    "estimator",
    [LogisticRegression(max_iter=500), MLPClassifier((8,), max_iter=300, random_state=0)],
    ids=["logistic", "mlp"],
)
def test_any_pipeline_is_explained_by_swapping_original_columns(data, estimator):
    frame, y, background, rows = data
    pipe = make_pipeline(preprocessing(drop_unused=False), estimator).fit(frame, y)
    explainer = tabular.Explainer(pipe, background, method="shapley_values")
    exp = explainer.explain(rows.iloc[:2], target=1)
    assert exp.parameters["output"].startswith("probability")
    for i in range(2):
        expected = interventional_brute_force(
            lambda X: pipe.predict_proba(X)[:, 1], rows.iloc[[i]], background
        )
        np.testing.assert_allclose(exp.attributions[i].numpy(), expected, atol=1e-9)
    default = tabular.Explainer(pipe, background, seed=0)
    assert default.method == "kernel_shap"
    sampled = default.explain(rows)
    torch.testing.assert_close(
        sampled.attributions.sum(1), sampled.scores - sampled.baseline_scores, rtol=0, atol=1e-6
    )


def test_the_model_sees_the_users_column_types(data):
    frame, _, background, rows = data
    seen = []

    def predict(X: pd.DataFrame) -> np.ndarray:
        seen.append(X.dtypes.to_dict())
        return (X.age.to_numpy() / 10 + (X.smoker == "yes") - X.bmi.isna()).to_numpy()

    exp = tabular.Explainer(predict, background, method="feature_ablation", baseline="mean")
    result = exp.explain(rows)
    assert all(s["age"] == np.int64 or s["age"] == np.float64 for s in seen)
    assert all(isinstance(s["smoker"], pd.CategoricalDtype) for s in seen)
    assert all(s["bmi"] == np.float64 for s in seen)
    # the mean reference of the categorical column is its most frequent value
    mode = background.smoker.mode()[0]
    expected = (rows.smoker == "yes").astype(float) - float(mode == "yes")
    np.testing.assert_allclose(result.attributions[:, 3].numpy(), expected.to_numpy())
    assert result.to_frame().query("feature == 'smoker'")["value"].tolist() == list(rows.smoker)


def test_columns_in_another_order_and_a_row_explained_alone(data):
    frame, y, background, rows = data
    pipe = make_pipeline(preprocessing(), RandomForestClassifier(10, max_depth=4, random_state=0))
    pipe.fit(frame, y)
    explainer = tabular.Explainer(pipe, background)
    together = explainer.explain(rows, target=1)
    alone = explainer.explain(rows.iloc[[3]][list(reversed(frame.columns))], target=1)
    torch.testing.assert_close(alone.attributions[0], together.attributions[3], rtol=0, atol=0)


def test_a_category_the_background_lacks(data):
    frame, y, background, rows = data
    new = rows.iloc[:2].assign(sex=["X", "X"])
    tolerant = make_pipeline(preprocessing(), RandomForestClassifier(10, random_state=0))
    exp = tabular.Explainer(tolerant.fit(frame, y), background).explain(new, target=1)
    assert exp.to_frame().query("feature == 'sex'")["value"].tolist() == ["X", "X"]
    strict_steps = ColumnTransformer(
        [("cat", OneHotEncoder(), ["sex", "smoker"])], remainder="drop"
    )
    strict = make_pipeline(strict_steps, LogisticRegression()).fit(frame, y)
    with pytest.raises(ValueError, match=r"column 'sex' holds \['X'\]"):
        tabular.Explainer(strict, background).explain(new)


def test_steps_that_mix_columns_are_explained_by_sampling_with_a_note(data):
    frame, y, background, rows = data
    for mixing in (PCA(3), PolynomialFeatures(2)):
        steps = make_pipeline(preprocessing(), mixing)
        pipe = make_pipeline(steps, RandomForestClassifier(5, random_state=0)).fit(frame, y)
        explainer = tabular.Explainer(pipe, background, seed=0)
        assert explainer.route is None and explainer.method == "kernel_shap"
        assert type(mixing).__name__ in explainer.parameters()["note"]
        with pytest.raises(ValueError, match="not explained exactly"):
            tabular.Explainer(pipe, background, method="tree_shap")


def test_ordinal_encoding_and_a_passthrough_column_are_exact(data):
    frame, y, background, rows = data
    steps = ColumnTransformer(
        [("cat", OrdinalEncoder(), ["sex", "smoker"]), ("imp", SimpleImputer(), ["bmi"])],
        remainder="passthrough",
    )
    pipe = make_pipeline(steps, RandomForestClassifier(10, max_depth=5, random_state=0))
    pipe.fit(frame, y)
    explainer = tabular.Explainer(pipe, background)
    assert explainer.tree is not None
    exp = explainer.explain(rows.iloc[:2], target=1)
    expected = interventional_brute_force(
        lambda X: pipe.predict_proba(X)[:, 1], rows.iloc[[0]], background
    )
    np.testing.assert_allclose(exp.attributions[0].numpy(), expected, atol=1e-9)


def test_bad_tables_are_refused_by_name(data):
    frame, y, background, rows = data
    pipe = make_pipeline(preprocessing(), LogisticRegression()).fit(frame, y)
    explainer = tabular.Explainer(pipe, background)
    with pytest.raises(ValueError, match=r"`X` columns differ.*missing \['age'\]"):
        explainer.explain(rows.drop(columns="age"))
    with pytest.raises(TypeError, match=r"`X` column 'age' holds text values"):
        explainer.explain(rows.assign(age="old"))
    with pytest.raises(ValueError, match=r"`background` column 'bmi' is entirely missing"):
        tabular.Explainer(pipe, background.assign(bmi=np.nan))
    with pytest.raises(TypeError, match=r"`background` column 'when' holds dates"):
        tabular.Explainer(pipe, background.assign(when=pd.Timestamp("2024-01-01")))
    with pytest.raises(TypeError, match=r"'integrated_gradients' needs gradients.*\['sex', "):
        tabular.Explainer(pipe, background, method="integrated_gradients")
    with pytest.raises(TypeError, match=r"'lime' computes with values.*kernel_shap"):
        tabular.Explainer(pipe, background, method="lime")
    with pytest.raises(ValueError, match=r"`baseline` 'zeros' has no meaning"):
        tabular.Explainer(pipe, background, baseline="zeros")
    with pytest.raises(TypeError, match=r"`background` must be a DataFrame"):
        tabular.Explainer(pipe, background.to_numpy())


def test_global_importance_of_a_pipeline_matches_its_rows(data):
    frame, y, background, rows = data
    pipe = make_pipeline(preprocessing(), RandomForestClassifier(10, max_depth=4, random_state=0))
    pipe.fit(frame, y)
    explainer = tabular.Explainer(pipe, background)
    whole = explainer.global_importance(rows, batch_size=4, target=1, show_progress=False)
    each = explainer.explain(rows, target=1)
    torch.testing.assert_close(whole.attributions, each.attributions, rtol=0, atol=0)
    assert whole.to_frame().query("feature == 'smoker'")["value"].tolist() == list(rows.smoker)


def test_plots_and_reports_name_the_categories(data):
    frame, y, background, rows = data
    pipe = make_pipeline(preprocessing(), RandomForestClassifier(10, max_depth=4, random_state=0))
    pipe.fit(frame, y)
    exp = tabular.Explainer(pipe, background).explain(frame.iloc[200:260], target=1)
    waterfall = [t.get_text() for t in exp.plot(0).axes[0].get_yticklabels()]
    assert f"smoker = {rows.smoker.iloc[0]}" in waterfall
    legend = [t.get_text() for t in exp.plot_global().axes[1].get_legend().get_texts()]
    assert {"smoker = no", "smoker = yes", "smoker = former", "bmi missing"} <= set(legend)
    strip = exp.plot_dependence("smoker", color_by="sex").axes[0]
    ticks = [t.get_text() for t in strip.get_xticklabels()]
    assert ticks == [str(c) for c in frame.smoker.cat.categories]
    assert {t.get_text() for t in strip.get_legend().get_texts()} == {"F", "M"}
    report = exp.to_html()
    assert "ColumnTransformer -&gt; RandomForestClassifier" in report


def test_a_column_the_pipeline_drops_gets_zero_with_every_method(data):
    # a column no step reads is a player without effect: it rides with another column in
    # the method's groups (the others' game is the same) and is reported as exactly 0
    frame, y, background, rows = data
    pipe = make_pipeline(preprocessing(), LogisticRegression()).fit(frame, y)
    unused = frame.columns.get_loc("unused")
    for method in ("kernel_shap", "shapley_value_sampling", "feature_ablation"):
        exp = tabular.Explainer(pipe, background, method=method, seed=0).explain(rows, target=1)
        assert (exp.attributions[:, unused] == 0).all(), method
        if method != "feature_ablation":  # the Shapley methods still add up
            gap = exp.scores - exp.baseline_scores
            torch.testing.assert_close(exp.attributions.sum(1), gap, rtol=0, atol=1e-6)


def test_the_players_bits_are_the_same_computed_a_few_rows_at_a_time():
    # a large forest's slots times the rows do not fit in memory at once: the rows go in
    # chunks; one row at a time gives the same bits and patterns
    from perspicio.tabular.trees import read_tree_model
    from perspicio.tabular.trees.grouped import GroupedEnsemble

    rng = np.random.default_rng(0)
    X = rng.normal(size=(200, 5))
    forest = RandomForestRegressor(6, max_depth=5, random_state=0).fit(X, X[:, 0] * X[:, 1])
    grouped = GroupedEnsemble.group(read_tree_model(forest, X[0]), [0, 0, 1, 2, 2], 3)
    rows = torch.tensor(X[:7])
    torch.testing.assert_close(grouped.inside(rows, budget=1), grouped.inside(rows))
    moved = grouped.to("cpu")  # a copy of every tensor field, the encoded trees included
    assert type(moved) is GroupedEnsemble and torch.equal(
        moved.patterns(rows), grouped.patterns(rows)
    )
    assert torch.equal(
        grouped.patterns(rows), torch.stack([grouped.patterns(r[None])[0] for r in rows])
    )


@pytest.mark.parametrize(
    "estimator, output",
    [
        (RandomForestClassifier(random_state=0), None),
        (HistGradientBoostingClassifier(random_state=0), "margin"),
    ],
    ids=["forest-defaults", "histgb-defaults"],
)
def test_library_default_trees_on_the_clinical_table_equal_brute_force(estimator, output):
    # scikit-learn's defaults (unlimited depth, 100 trees) behind imputers, a scaler and a
    # one-hot encoder, on int64, text, categorical, boolean and missing values
    from perspicio.tabular.demo import clinical_pipeline

    pipe, background, rows = clinical_pipeline(estimator)
    background = background.iloc[:10]
    exp = tabular.Explainer(pipe, background, output=output).explain(
        rows.iloc[:3], target=1 if output is None else None
    )
    f = pipe.decision_function if output else (lambda X: pipe.predict_proba(X)[:, 1])
    for i in range(3):
        expected = interventional_brute_force(f, rows.iloc[[i]], background)
        np.testing.assert_allclose(exp.attributions[i].numpy(), expected, atol=1e-9)
