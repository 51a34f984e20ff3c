"""Recorded grids and replays: how fast a search strategy reaches the answer, without training.

table.py        the grid table (CSV): points, per-epoch curves, stage costs, provenance
from_study.py   a finished study read as a grid table
answer.py       compute to the answer (0.5 pp / 1 pp of the grid's best), spread over seeds
run.py          every strategy over seeds against one table (the engine is the sweeper's,
                `hydra_plugins.freezesweep_sweeper.replay`)
plot.py         anytime curves
report.py       what the command prints and writes
command.py      `freezesweep replay`
"""
