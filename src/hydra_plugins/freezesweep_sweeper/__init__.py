"""Hydra Sweeper plugin `hydra/sweeper: freezesweep`: Optuna 5 ask/tell, pruning, shared studies."""
