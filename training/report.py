"""What a training run measured, for people: ``report.md`` tables and PNG plots from ``report.json``.

report.json: {"data": {...}, "rating": {model: {rmse, mae}}, "retrieval": {model: {recall@10, ndcg@10,
recall@100}}, "session": {model: {recall@20, mrr@20}}, "training": {model: curve}, "timings": {...}}.
The first model of each task is the one that is served; the others are its baselines.
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


def markdown(report: dict[str, Any]) -> str:
    lines = [f"# Model report: {report.get('version', '')}", ""]
    data = report.get("data", {})
    ratings, sessions = data.get("ratings", {}), data.get("sessions", {})
    lines += [f"- data: {ratings.get('name', '')}; sessions: {sessions.get('name', '')}",
              f"- split sizes: {data.get('rating_split', {})}; session events: {data.get('session_split', {})}",
              f"- training time: {report.get('timings', {}).get('total_seconds', 0):.0f} s", ""]
    for task, (title, metrics, direction) in TASKS.items():
        results = report.get(task, {})
        if not results:
            continue
        lines += [f"## {title} ({direction})", "", "| model | " + " | ".join(metrics) + " |",
                  "|---|" + "---|" * len(metrics)]
        for position, (model, values) in enumerate(results.items()):
            name = f"**{model}** (served)" if position == 0 else model
            lines.append(f"| {name} | " + " | ".join(f"{values.get(metric, float('nan')):.4f}" for metric in metrics)
                         + " |")
        lines.append("")
    curves = report.get("training", {})
    if curves:
        lines += ["## Training", "", "| model | epochs run | kept epoch | validation metric | seconds |",
                  "|---|---|---|---|---|"]
        for model, curve in curves.items():
            best = curve["validation"][curve["best_epoch"] - 1] if curve["best_epoch"] else float("nan")
            lines.append(f"| {model} | {len(curve['loss'])} | {curve['best_epoch']} | {curve['metric']} {best:.4f} "
                         f"| {curve['seconds']:.1f} |")
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
        for position, model in enumerate(models):
            values = [report[task][model].get(metric, 0.0) for metric in metrics]
            axes[0, column].bar([m + position * width for m in range(len(metrics))], values, width, label=model)
        axes[0, column].set_xticks([m + 0.4 - width / 2 for m in range(len(metrics))], metrics)
        axes[0, column].set_title(f"{title}\n({direction})", fontsize=9)
        axes[0, column].legend(fontsize=8)
    figure.tight_layout()
    figure.savefig(path, dpi=90)
    plt.close(figure)
