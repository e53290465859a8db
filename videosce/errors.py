"""Errors that describe bad input (a config, a split file, a checkpoint, a dataset) rather than a bug.

Tools print them as one line and exit 2 instead of showing a traceback.
"""
from __future__ import annotations

import sys
from contextlib import contextmanager
from typing import Iterator


class UserError(Exception):
    """Bad input from the user; the message is one line and says what to fix.

    Raised in a DataLoader worker, it reaches the main process as `type(exc)(<the worker's
    traceback>)` (torch's ExceptionWrapper): the constructor keeps only the worker's own line.
    """

    def __init__(self, message: str = "") -> None:
        super().__init__(_worker_line(type(self), str(message)))


class ConfigError(UserError, ValueError):
    """A configuration problem, described in one line that names the key."""


def _worker_line(cls: type, message: str) -> str:
    """`message`, or the original one line of an error torch's DataLoader re-raised with its traceback."""
    lines = message.splitlines()
    if len(lines) < 2 or not lines[0].startswith("Caught "):
        return message
    prefixes = (f"{cls.__module__}.{cls.__qualname__}: ", f"{cls.__qualname__}: ")  # traceback drops __main__
    for line in reversed(lines):
        for prefix in prefixes:
            if line.startswith(prefix):
                return line[len(prefix):]
    return message


@contextmanager
def exit_on_user_error() -> Iterator[None]:
    try:
        yield
    except (UserError, FileNotFoundError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        raise SystemExit(2) from None
