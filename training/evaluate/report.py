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
    "rating": "The served row is what `/predict-rating` serves and `/recommend` ranks with (`rating_model`): by "
              "default a blend of the deep ranking model, MF with biases and (on catalogs small enough) I-AutoRec, "
              "named with its weights, fitted by least squares on the validation part; `global_mean` predicts the "
              "training mean for everyone.",
    "retrieval": "The served row is the order `/recommend` returns, computed by the server's own code: the top "
                 "100 unseen items by a mix of the candidate sources (the two-tower logit, EASE's item-to-item "
                 "score, the user autoencoder's log-probability), re-ranked with the predicted rating; the "
                 "sources, their weights and the rating weight are chosen on validation. `two_tower`, `ease`, "
                 "`mult_vae` and `mult_dae` are each source alone. Each test user's training items are excluded.",
    "session": "The served row was chosen on validation (by recall@20 + mrr@20) among GRU4Rec and NARM, each "
               "alone or mixed with first-order transitions from the session's last item (`+ transitions xW`: "
               "(1 - W) x the model's softmax + W x P(next | last)); every prefix of a test session predicts "
               "its next item.",
}
# Two sentences per model: what it is and when it wins. Keys are row names up to the first " (".
MODELS = {
    "deep": "The deep ranking model: user id, demographics and the mean of the user's recent and rated items, "
            "item id, genres and title, through a DCN cross layer and an MLP, plus biases. It wins where side "
            "features and histories say more than ids, and as the blend's second member.",
    "neumf": "NeuMF (He et al. 2017): a generalized matrix factorization branch and an MLP branch over separate "
             "id embeddings, fused by one linear layer, trained here on squared rating error. It learns "
             "non-linear id interactions but no side features or history; on ML-100K it lands between MF and the "
             "deep model and adds nothing to their blend (`--set rating_model=neumf` serves it).",
    "mf": "Matrix factorization with biases (Koren et al. 2009): the mean, a user and an item bias and a dot "
          "product of id vectors. A fast, strong baseline on dense ratings; it cannot use side features.",
    "autorec": "I-AutoRec (Sedhain et al. 2015): each item's vector of ratings by all users is encoded and "
               "decoded by one hidden layer, and the decoder's output for a user is the prediction. The best "
               "single rating model on ML-100K; its ratings matrix lives in memory, which bounds the catalog.",
    "blend": "A least-squares blend of the rating models' predictions, weights fitted on the validation part "
             "(the Netflix Prize's last step). It wins whenever its members err differently.",
    "global_mean": "Predicts the training mean rating for everyone. The floor every rating model must beat.",
    "two_tower": "The two-tower retrieval model (TensorFlow Recommenders): a query tower over the user's "
                 "features and history and a candidate tower over the item, trained with a sampled softmax; "
                 "served through a ScaNN index. It scales to any catalog and wins where features matter.",
    "two_stage": "What `/recommend` serves: candidates from the mixed sources, then the predicted rating "
                 "added with its weight. `rating only` orders two-tower candidates by predicted rating "
                 "alone: what a user would rate highly if they saw it, not what they will pick.",
    "mult_vae": "Mult-VAE (Liang et al. 2018): a variational autoencoder over the user's interaction vector "
                "with a multinomial likelihood and an annealed KL weight beta (the kept epoch chooses it). "
                "Strong on implicit feedback with enough users per item; bounded to catalogs whose dense "
                "user vectors fit the training budget.",
    "mult_dae": "Mult-DAE (Liang et al. 2018): the same autoencoder without the variational code, denoising "
                "by dropout on the input. Often on par with Mult-VAE, sometimes ahead on small data.",
    "ease": "EASE (Steck 2019): a closed-form item-to-item weight matrix with a zero diagonal, lambda chosen "
            "on validation. The strongest classical baseline on MovieLens; its n² matrix bounds the catalog.",
    "item_knn": "Item-kNN with cosine similarity over the users' interactions. A robust baseline on small data.",
    "popularity": "The most interacted-with items, the same for everyone. The floor every recommender must "
                  "beat, and what new users get.",
    "gru4rec": "GRU4Rec (Hidasi et al.): a GRU over the session's items, trained session-parallel with sampled "
               "negatives. Wins on long, ordered sessions.",
    "narm": "NARM (Li et al. 2017): a GRU with attention over the session, so the main purpose of the session "
            "weighs in. Usually ahead of GRU4Rec on short sessions.",
    "sknn": "Session-kNN: sessions similar to the current one vote for their items. A strong baseline on "
            "e-commerce clicks.",
    "vsknn": "V-SKNN: session-kNN that weighs recent items of the session more. Often the best neighbourhood "
             "model on click logs.",
    "transitions": "First-order transitions: P(next | last item) counted in training sessions. Wins where "
                   "the last item says most.",
    "cooccurrence": "Items that co-occur with the last item in training sessions. A simple, weak baseline.",
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
              f"- training time: {report.get('timings', {}).get('total_seconds', 0):.0f} s"
              + (f" on {workers} workers" if (workers := report.get("timings", {}).get("workers", 1)) > 1 else ""), ""]
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
    described = {_family(model) for task in TASKS for model in report.get(task, {})} & set(MODELS)
    if described:
        lines += ["## The models", "", *(f"- **{name}**: {MODELS[name]}" for name in MODELS if name in described), ""]
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


def _family(model: str) -> str:
    """A report row's model family: "ease (lambda 500)" -> "ease", "narm + transitions x0.2" -> "narm"."""
    return model.split(" (")[0].split(" + ")[0]


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
