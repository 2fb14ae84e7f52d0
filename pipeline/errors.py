"""Error types the CLI maps to exit codes: UserError -> 2, CheckFailed -> 1."""


class UserError(Exception):
    """Bad usage or bad input: the CLI prints one line and exits with code 2."""


class CheckFailed(Exception):
    """A graph check, a runtime load or a parity threshold failed: exit code 1."""
