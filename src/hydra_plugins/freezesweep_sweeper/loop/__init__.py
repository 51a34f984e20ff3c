"""The ask/tell loop: what `FreezesweepSweeper.setup` and `.sweep` run.

_sweep.py       `SweepLoop`: setup, then preflight, open the study, batches, the summary
_preflight.py   everything checked before the study exists (sample jobs composed)
_ask.py         asking a batch: never past the study's total, each trial stamped
_batches.py     launching a batch and telling its results; the failure budget
_signals.py     SIGTERM/SIGINT end the current trials cleanly
_progress.py    the progress line per trial and the end-of-sweep summary
"""
