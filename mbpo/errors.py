"""Failures the user can fix: a config, a run directory or a checkpoint that cannot be used, or a run that
diverged. The ``mbpo`` command prints one as a single line and exits 1, without a traceback.

This module imports nothing, so the command can catch these without loading the training stack (torch,
MuJoCo): the analysis commands never need it.
"""


class UserError(Exception):
    """A failure whose message names the input at fault and what to do; not a bug."""


class ConfigError(UserError, ValueError):
    """A config value or key that cannot run; the message names it and what is allowed."""
