"""A dry run of a sweep's machinery: trials answered without training (`trainer.simulate`).

answer.py   each epoch's value: a recorded grid table's nearest point, or a seeded surface
trial.py    the trial through the pruner, the study's user attrs and MLflow, with a fixed sleep
"""

from freezesweep.simulate.answer import Answer, answer, check
from freezesweep.simulate.trial import SIMULATED_TAG, run_simulated

__all__ = ["SIMULATED_TAG", "Answer", "answer", "check", "run_simulated"]
