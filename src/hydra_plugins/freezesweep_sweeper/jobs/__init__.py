"""What each job is given: its command line, its composed config, its folder.

_overrides.py      a trial's job overrides; the sweep folder and study name jobs share
_passwords.py      passwords in command-line URLs travel to jobs as environment variables
_config_reuse.py   job configs composed once per shape, then re-valued per trial
"""
