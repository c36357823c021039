"""docs/benchmarks.md is written by benchmarks/report.py: its headings (other pages link to
them), its settings lines and its warning for partial runs, from made-up results."""

from __future__ import annotations

import math
import re

import pytest

report = pytest.importorskip("benchmarks.report")
common = pytest.importorskip("benchmarks.common")

NAN = math.nan


def result(suite, name, theirs=20.0, theirs_best=NAN, ours_best=None, settings="s", best=""):
    """As run.py records a case: perspicio's best time is its default's unless given."""
    ours_best = (10.0 if theirs_best == theirs_best else NAN) if ours_best is None else ours_best
    return common.Result(
        suite, name, 10.0, theirs, ours_best, theirs_best, NAN, 0.0, NAN, settings, best, 1.0
    )


def meta(repeats=3):
    return report.Meta(
        command="python -m benchmarks.run --repeats 3",
        started=0.0,
        minutes=1.0,
        device="cpu",
        device_name="CPU",
        cores=2,
        threads=2,
        repeats=repeats,
        pools=["openmp (libgomp.so.1): 2"],
        versions={"torch": "2"},
    )


def test_every_section_heading_is_on_the_page_even_when_not_run():
    page = report.render([result("gradient", "Saliency")], meta())
    for section in report.SECTIONS.values():
        assert f"\n## {section.title}\n" in page
    assert "`--suite perturbation` runs it" in page
    assert "```python" not in page  # the docs build would execute it


def test_settings_lines_are_numbered_once_per_distinct_setting():
    rows = [
        result("perturbation", "A", theirs_best=15.0, settings="defaults A", best="best A"),
        result("perturbation", "B", theirs_best=15.0, settings="defaults A", best="best A"),
        result("perturbation", "C", settings="same call"),
    ]
    page = report.render(rows, meta())
    assert "(1) Defaults: defaults A. Best: best A." in page
    assert "(2) Same call." in page
    assert len(re.findall(r"\| \(1\) \|", page)) == 2
    assert "| A | 10.0 | 20.0 | 2.00x | 10.0 | 15.0 | 1.50x |" in page


def test_a_partial_or_smoke_run_says_so():
    rows = [result("gradient", "Saliency")]
    assert "Not the project's figures" in report.render(rows, meta(), partial=True)
    assert "Not the project's figures" in report.render(rows, meta(repeats=1))
    assert "Not the project's figures" not in report.render(rows, meta())


def test_results_round_trip_through_json(tmp_path):
    rows = [result("trees", "GB", theirs_best=5.0, ours_best=2.0, best="b")]
    path = str(tmp_path / "r.json")
    report.save(path, rows, meta())
    loaded, loaded_meta = report.load(path)
    assert loaded_meta == meta()
    assert (loaded[0].name, loaded[0].ratio, loaded[0].ratio_best) == ("GB", 2.0, 2.5)
    assert math.isnan(loaded[0].floor)
