"""The publish gate: a version whose served models lose to the trivial baselines on the test split does not
become ``LATEST`` unless asked to (``--publish-anyway``); each task gets a one-line verdict either way."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

# task -> (the baseline a served model must not lose to, the metric that decides, lower is better)
BASELINES: dict[str, tuple[str, str, bool]] = {
    "rating": ("global_mean", "rmse", True),
    "retrieval": ("popularity", "recall@10", False),
    "session": ("popularity", "recall@20", False),
}
TASK_NAMES = {"rating": "ratings (/predict-rating)", "retrieval": "recommendations (/recommend)",
              "session": "sessions (/session/next)"}


class PublishRefused(Exception):
    """Served models lost to their baselines and ``--publish-anyway`` was not given."""


@dataclass(frozen=True)
class Verdict:
    task: str
    served: str
    baseline: str
    metric: str
    served_value: float
    baseline_value: float
    lower_is_better: bool

    @property
    def wins(self) -> bool:
        """A tie is not a loss: on tiny data both can be exact."""
        if self.lower_is_better:
            return self.served_value <= self.baseline_value
        return self.served_value >= self.baseline_value

    def line(self) -> str:
        outcome = "beats" if self.wins else "LOSES TO"
        return (f"{TASK_NAMES[self.task]}: {self.served} {self.metric} {self.served_value:.4f} {outcome} "
                f"{self.baseline} {self.baseline_value:.4f}")


def verdicts(report: dict[str, Any]) -> list[Verdict]:
    """One verdict per task of ``report`` that has its served model and baseline measured."""
    found = []
    for task, (baseline, metric, lower_is_better) in BASELINES.items():
        served, results = report["served"].get(task), report.get(task, {})
        if served in results and baseline in results:
            found.append(Verdict(task, served, baseline, metric, results[served][metric], results[baseline][metric],
                                 lower_is_better))
    return found


def check(report: dict[str, Any], publish_anyway: bool) -> list[Verdict]:
    """The verdicts; PublishRefused if one loses and ``publish_anyway`` is false."""
    found = verdicts(report)
    lost = [verdict for verdict in found if not verdict.wins]
    if lost and not publish_anyway:
        raise PublishRefused(
            "not published: on the test split, " + "; ".join(verdict.line() for verdict in lost)
            + ". LATEST is unchanged. Look at the data and settings, or rerun with --publish-anyway to publish "
              "this version regardless")
    return found
