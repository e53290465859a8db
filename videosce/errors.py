"""Errors that describe bad input (a config, a split file, a checkpoint) rather than a bug.

Tools print them as one line and exit 2 instead of showing a traceback.
"""
from __future__ import annotations

import sys
from contextlib import contextmanager
from typing import Iterator


class UserError(Exception):
    """Bad input from the user; the message is one line and says what to fix."""


@contextmanager
def exit_on_user_error() -> Iterator[None]:
    try:
        yield
    except (UserError, FileNotFoundError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        raise SystemExit(2) from None
