"""`hydra/sweeper: freezesweep`: the public Sweeper class, thin.

Its configuration is `config.FreezesweepSweeperConf`; its implementation, the ask/tell loop in
`loop/`, is imported when the sweeper is created, not when Hydra scans its plugins, so every
Hydra start-up (a plain single run included) stays free of Optuna's import time.
"""

# No `from __future__ import annotations` here: Hydra's plugin scanner executes this module
# before registering it in sys.modules.

from typing import Any

from hydra.errors import CompactHydraException
from hydra.plugins.sweeper import Sweeper
from hydra.types import HydraContext, TaskFunction
from omegaconf import DictConfig

from freezesweep.errors import FailureBudgetExceeded, SweepEndError

from .config import FreezesweepSweeperConf


class SweepConfigError(CompactHydraException, ValueError):
    """A bad `hydra.sweeper.*` setting: Hydra prints compact exceptions as one line."""


class SweepEndFailed(CompactHydraException, RuntimeError):
    """The end of the sweep failed after every trial was told (`SweepEndError`): one line,
    exit status 1."""


class FailureBudgetSpent(CompactHydraException, RuntimeError):
    """More trials failed than `hydra.sweeper.max_failure_rate` allows (`FailureBudgetExceeded`):
    one line, exit status 1."""


class FreezesweepSweeper(Sweeper):
    """Optuna 5 ask/tell over Hydra jobs; configured by `FreezesweepSweeperConf`."""

    def __init__(self, **conf: Any) -> None:
        from .loop._sweep import SweepLoop

        self.sweeper = SweepLoop(conf)

    def setup(
        self, *, hydra_context: HydraContext, task_function: TaskFunction, config: DictConfig
    ) -> None:
        try:
            self.sweeper.setup(
                hydra_context=hydra_context, task_function=task_function, config=config
            )
        except ValueError as error:
            raise SweepConfigError(_redacted(error)) from None

    def sweep(self, arguments: list[str]) -> list[Any]:
        try:
            returns: list[Any] = self.sweeper.sweep(arguments)
        except ValueError as error:
            # Job errors never get here (Hydra keeps them in each JobReturn): this is the search
            # space, the enqueued sets or the composed sample job, all checked before the study.
            raise SweepConfigError(_redacted(error)) from None
        except SweepEndError as error:
            raise SweepEndFailed(_redacted(error)) from None
        except FailureBudgetExceeded as error:
            raise FailureBudgetSpent(_redacted(error)) from None
        return returns


def _redacted(error: BaseException) -> str:
    """The one line printed for a bad setting, with any secret it quotes hidden."""
    from freezesweep.redaction import redact

    return redact(str(error))


__all__ = [
    "FailureBudgetSpent",
    "FreezesweepSweeper",
    "FreezesweepSweeperConf",
    "SweepConfigError",
    "SweepEndFailed",
]
