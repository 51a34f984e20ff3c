"""Reading the sweep definition, before any study exists.

_settings.py        `hydra.sweeper.*` -> validated `Settings` (the one reader)
_grammar.py         Hydra's override grammar -> Optuna distributions; values -> overrides
_sampler.py         the sampler built from its `_target_` spec (a grid from `params`)
_user_functions.py  hooks and `custom_search_space` paths, resolved behind a fence
_fingerprint.py     the definition stored on the study; what a resumed sweep may change
"""
