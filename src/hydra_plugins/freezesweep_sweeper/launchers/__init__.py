"""Submitit launchers (`hydra/launcher=submitit_local` / `submitit_slurm`).

submitit.py    `LocalLauncher`, `SlurmLauncher`: dead jobs become FAIL trials
_executor.py   the submitit executor for the `hydra.launcher` keys
_sbatch.py     sbatch's refusals as one line naming the key
_watcher.py    job states from squeue where sacct has no accounting
"""
