"""Replaying a search strategy against a recorded grid: the sweeper's own sampler, pruner and
enqueue, answered from a table instead of trained (`freezesweep replay`, bench P7).

_strategy.py    a strategy's settings, composed from the project's config and overrides
_space.py       the searched space (from the table or the sweep's params); snapping to the grid
_engine.py      one seeded replay: ask, answer from the table, report, prune, tell
"""
