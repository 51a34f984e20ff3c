"""A study: where it is stored, the job side of pruning, its report files, the sweeper's hooks,
the names of the Optuna attributes the sweeper and the job share (`attributes`)."""
