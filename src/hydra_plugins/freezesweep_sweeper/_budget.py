"""The failure budget: this invocation's finished and failed trials against `max_failure_rate`."""

from __future__ import annotations

from dataclasses import dataclass

from optuna.trial import FrozenTrial, TrialState


class FailureBudgetExceeded(RuntimeError):
    """More trials of this invocation failed than `max_failure_rate` allows."""


@dataclass
class Tally:
    """This invocation's finished trials, for the failure budget."""

    finished: int = 0
    failed: int = 0
    last_reason: str = ""

    def add(self, trial: FrozenTrial) -> None:
        self.finished += 1
        if trial.state == TrialState.FAIL:
            self.failed += 1
            self.last_reason = str(trial.user_attrs.get("fail_reason", ""))

    def over(self, rate: float) -> bool:
        return self.failed > rate * self.finished
