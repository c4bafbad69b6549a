"""What a training run measured, for people: ``report.md`` tables and PNG plots from ``report.json``.

report.json: {"data": {...}, "served": {task: model}, "verdicts": [{task, wins, line}], "rating": {model:
{rmse, mae}}, "retrieval": {model: {recall@10, ndcg@10, recall@100}}, "session": {model: {recall@20,
mrr@20}}, "training": {model: curve}, "timings": {...}}. ``served`` names, per task, the row that the
service serves; the other rows are its parts and baselines.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import matplotlib

matplotlib.use("Agg")  # files only; no display on servers
import matplotlib.pyplot as plt  # noqa: E402

TASKS = {
    "rating": ("Rating prediction (test)", ["rmse", "mae"], "lower is better"),
    "retrieval": ("Retrieval (test users, training items excluded)", ["recall@10", "ndcg@10", "recall@100"],
                  "higher is better"),
    "session": ("Next item in a session (test events)", ["recall@20", "mrr@20"], "higher is better"),
}


# What each served row is, for readers who did not write the trainer.
EXPLAINED = {
    "rating": "`ranking` is what `/predict-rating` serves: a blend of the deep ranking model, MF with biases and "
              "(on catalogs small enough) I-AutoRec, with blend weights fitted on the validation part; "
              "`global_mean` predicts the training mean for everyone.",
    "retrieval": "The served row is the order `/recommend` returns, computed by the server's own code: the top "
                 "100 unseen items by a mix of the two-tower logit and (on catalogs small enough) EASE's "
                 "item-to-item score, re-ranked with the predicted rating; the sources, their weights and the "
                 "rating weight are chosen on validation. `two_tower` and `ease` are each candidate source "
                 "alone. Each test user's training items are excluded.",
    "session": "The served row was chosen on validation (by recall@20 + mrr@20) among GRU4Rec and NARM, each "
               "alone or mixed with first-order transitions from the session's last item (`+ transitions xW`: "
               "(1 - W) x the model's softmax + W x P(next | last)); every prefix of a test session predicts "
               "its next item.",
}
METRICS = ("RMSE / MAE: root mean squared / mean absolute error of predicted ratings on the test ratings. "
           "recall@K: the share of a test user's held-out items (or of test events' next items) found in the "
           "top K; ndcg@K also rewards placing them higher; mrr@20: the mean of 1/rank of the next item, 0 "
           "beyond rank 20.")


def _split_table(data: dict[str, Any]) -> list[str]:
    rating, session = data.get("rating_split", {}), data.get("session_split", {})
    labels = {"train": "ratings: train (= fit + validation)", "fit": "ratings: fit (trains the models)",
              "validation": "ratings: validation (early stopping, every choice)", "test": "ratings: test",
              "test_users": "users with test ratings", "train_events": "session events: train",
              "validation_events": "session events: validation", "test_events": "session events: test"}
    rows = [(labels.get(part, part), count) for part, count in {**rating, **session}.items()
            if isinstance(count, int)]
    return ["| part | size |", "|---|---|", *(f"| {name} | {count:,} |" for name, count in rows), ""]


def markdown(report: dict[str, Any]) -> str:
    lines = [f"# Model report: {report.get('version', '')}", ""]
    lines += [f"- {'✅' if verdict['wins'] else '❌'} {verdict['line']}" for verdict in report.get("verdicts", [])]
    data = report.get("data", {})
    ratings, sessions = data.get("ratings", {}), data.get("sessions", {})
    lines += ["", f"- data: {ratings.get('name', '')}; sessions: {sessions.get('name', '')}",
              f"- training time: {report.get('timings', {}).get('total_seconds', 0):.0f} s", ""]
    checks = [*ratings.get("checks", []), *sessions.get("checks", [])]
    if checks:
        lines += ["## Data checks", "", *(f"- {note}" for note in checks), ""]
    lines += ["## Splits", "", *_split_table(data), f"Metrics: {METRICS}", ""]
    served = report.get("served", {})
    for task, (title, metrics, direction) in TASKS.items():
        results = report.get(task, {})
        if not results:
            continue
        lines += [f"## {title} ({direction})", "", EXPLAINED[task], "",
                  "| model | " + " | ".join(metrics) + " |", "|---|" + "---|" * len(metrics)]
        for model, values in results.items():
            name = f"**{model}** (served)" if model == served.get(task) else model
            lines.append(f"| {name} | " + " | ".join(f"{values.get(metric, float('nan')):.4f}" for metric in metrics)
                         + " |")
        lines.append("")
    curves = report.get("training", {})
    if curves:
        lines += ["## Training", "",
                  "Each model trains on the fit part with early stopping on validation; the kept epoch count is then "
                  "used to retrain a fresh model on the whole training part (fit + validation), which is the model "
                  "tested and served (\"refit seconds\"; 0 where refitting is off).", "",
                  "| model | epochs run | kept epoch | validation metric | seconds | refit seconds |",
                  "|---|---|---|---|---|---|"]
        for model, curve in curves.items():
            best = curve["validation"][curve["best_epoch"] - 1] if curve["best_epoch"] else float("nan")
            lines.append(f"| {model} | {len(curve['loss'])} | {curve['best_epoch']} | {curve['metric']} {best:.4f} "
                         f"| {curve['seconds']:.1f} | {curve.get('refit_seconds', 0.0):.1f} |")
        lines.append("")
    return "\n".join(lines)


def plot_training_curves(report: dict[str, Any], path: Path) -> None:
    curves = report.get("training", {})
    figure, axes = plt.subplots(2, max(len(curves), 1), figsize=(4 * max(len(curves), 1), 6), squeeze=False)
    for column, (model, curve) in enumerate(curves.items()):
        epochs = range(1, len(curve["loss"]) + 1)
        axes[0, column].plot(epochs, curve["loss"], marker="o")
        axes[0, column].set_title(f"{model}: training loss")
        axes[1, column].plot(epochs, curve["validation"], marker="o", color="tab:green")
        axes[1, column].axvline(curve["best_epoch"], color="grey", linestyle="--", label="kept")
        axes[1, column].set_title(f"validation {curve['metric']}")
        axes[1, column].set_xlabel("epoch")
        axes[1, column].legend()
    figure.tight_layout()
    figure.savefig(path, dpi=90)
    plt.close(figure)


def plot_metrics(report: dict[str, Any], path: Path) -> None:
    tasks = [task for task in TASKS if report.get(task)]
    figure, axes = plt.subplots(1, max(len(tasks), 1), figsize=(5 * max(len(tasks), 1), 4), squeeze=False)
    for column, task in enumerate(tasks):
        title, metrics, direction = TASKS[task]
        models = list(report[task])
        width = 0.8 / len(models)
        served = report.get("served", {}).get(task)
        for position, model in enumerate(models):
            values = [report[task][model].get(metric, 0.0) for metric in metrics]
            is_served = model == served
            axes[0, column].bar([m + position * width for m in range(len(metrics))], values, width,
                                label=f"{model} (served)" if is_served else model,
                                edgecolor="black" if is_served else None, linewidth=2 if is_served else 0,
                                hatch="//" if is_served else None)
        axes[0, column].set_xticks([m + 0.4 - width / 2 for m in range(len(metrics))], metrics)
        axes[0, column].set_title(f"{title}\n({direction})", fontsize=9)
        axes[0, column].legend(fontsize=8)
    figure.tight_layout()
    figure.savefig(path, dpi=90)
    plt.close(figure)


def summary(report: dict[str, Any]) -> str:
    """The test metrics as plain-text tables for the end of a training run, served rows marked with *."""
    served, lines = report.get("served", {}), [f"Test metrics of {report.get('version', '')} (* = served):"]
    for task, (title, metrics, direction) in TASKS.items():
        results = report.get(task, {})
        if not results:
            continue
        width = max(len(model) for model in results) + 2
        lines += ["", f"{title}, {direction}", " " * width + "".join(f"{metric:>12}" for metric in metrics)]
        for model, values in results.items():
            mark = "*" if model == served.get(task) else " "
            lines.append(f"{mark}{model:<{width - 1}}" + "".join(f"{values.get(metric, float('nan')):>12.4f}"
                                                                 for metric in metrics))
    lines += ["", *(verdict["line"] for verdict in report.get("verdicts", []))]
    return "\n".join(lines)
