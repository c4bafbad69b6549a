"""report.md and the plots say which row is served, what the checks changed, and what each task's verdict is."""

from __future__ import annotations

import matplotlib.pyplot as plt

from training.evaluate import report as report_module

REPORT = {
    "version": "v1",
    "served": {"rating": "ranking", "retrieval": "two_stage (two-tower x1 + rating x0.3)", "session": "narm"},
    "verdicts": [{"task": "rating", "wins": True, "line": "ratings (/predict-rating): ranking rmse 0.9 beats"},
                 {"task": "session", "wins": False, "line": "sessions (/session/next): narm LOSES TO popularity"}],
    "data": {"ratings": {"name": "r.csv", "checks": ["r.csv: 2 rows with a rating outside 1..5 refused"]},
             "sessions": {"name": "seq", "checks": []},
             "rating_split": {"train": 90, "test": 10, "fit": 80, "validation": 10, "test_users": 7},
             "session_split": {"train_events": 50, "validation_events": 5, "test_events": 6}},
    "rating": {"ranking": {"rmse": 0.9, "mae": 0.7}, "global_mean": {"rmse": 1.1, "mae": 0.9}},
    "retrieval": {"two_tower": {"recall@10": 0.2}, "two_stage (two-tower x1 + rating x0.3)": {"recall@10": 0.25},
                  "popularity": {"recall@10": 0.1}},
    "session": {"narm": {"recall@20": 0.1}, "popularity": {"recall@20": 0.2}},
}


def test_markdown_opens_with_verdicts_and_marks_the_served_rows():
    lines = report_module.markdown(REPORT).splitlines()
    assert lines[2:4] == ["- ✅ ratings (/predict-rating): ranking rmse 0.9 beats",
                          "- ❌ sessions (/session/next): narm LOSES TO popularity"]
    text = "\n".join(lines)
    assert "## Data checks\n\n- r.csv: 2 rows with a rating outside 1..5 refused" in text
    assert "| **two_stage (two-tower x1 + rating x0.3)** (served) |" in text and "| two_tower |" in text
    assert "| users with test ratings | 7 |" in text and "| session events: test | 6 |" in text
    # Each model present is explained once, by family: two_stage rows, popularity in two tasks.
    models = text.split("## The models\n\n")[1].split("\n\n")[0].splitlines()
    assert [line.split("**")[1] for line in models] == ["global_mean", "two_tower", "two_stage", "popularity", "narm"]


def test_the_metrics_plot_marks_the_served_model(tmp_path, monkeypatch):
    figures = []
    monkeypatch.setattr(report_module.plt, "close", figures.append)
    report_module.plot_metrics(REPORT, tmp_path / "metrics.png")
    labels = [[text.get_text() for text in axis.get_legend().get_texts()] for axis in figures[0].axes]
    assert labels[0] == ["ranking (served)", "global_mean"]
    assert labels[1] == ["two_tower", "two_stage (two-tower x1 + rating x0.3) (served)", "popularity"]
    assert labels[2] == ["narm (served)", "popularity"]
    plt.close(figures[0])
    assert (tmp_path / "metrics.png").read_bytes()[:4] == b"\x89PNG"
