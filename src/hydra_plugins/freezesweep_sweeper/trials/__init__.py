"""The shared study and its trials, as several workers see them through the storage.

_shared_study.py   opening the study, the per-worker sampler seed, enqueue-once, places
_liveness.py       heartbeats, stale trials failed and their parameters re-queued once
_outcomes.py       a job's return -> the state and values told to Optuna
_pending.py        telling through a storage outage: retries, then a saved result
"""
