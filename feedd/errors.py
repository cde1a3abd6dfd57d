"""The one error hierarchy of feedd.

Every error a user can cause or fix is a ``FeeddError``; ``feedd.cli`` turns it into one line on
stderr and an exit code, the daemon logs it and carries on with the next item. Anything else that
escapes is a bug.

    FeeddError
    ├── ConfigError          a setting is missing, malformed or inconsistent  (exit 2)
    ├── UsageError           a CLI argument is wrong: unknown id, missing file  (exit 2)
    ├── DumpRejected         a file in the inbox is not a dump we can read  (file -> rejected/)
    └── StorageError         the database cannot be reached or migrated  (exit 3)

Messages say what failed and what to check next, in one line, and never contain a secret.
"""

from __future__ import annotations


class FeeddError(Exception):
    """Base of every error feedd reports to a person instead of crashing."""

    exit_code = 1

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message

    def __str__(self) -> str:
        return self.message


class ConfigError(FeeddError):
    """A setting is missing, malformed or inconsistent."""

    exit_code = 2


class UsageError(FeeddError):
    """A command-line argument names something that does not exist or is malformed."""

    exit_code = 2


class DumpRejected(FeeddError):
    """The file is not a dump feedd can read; ``reason`` goes into ``<name>.error.txt``."""

    exit_code = 4


class StorageError(FeeddError):
    """The database cannot be reached, opened or migrated."""

    exit_code = 3
