"""One run per output directory: a job holds an exclusive lock on `<output_dir>/.lock` while it lives.

The lock is `fcntl.flock` on an open file, so the kernel drops it when the process ends in any way
(exit, exception, SIGKILL, OOM kill): a killed run never leaves a stale lock, and `resume=auto`
can start at once. The file keeps the holder's pid for the refusal message. flock is advisory and
local to one machine (on NFS, Linux emulates it with byte-range locks that the server enforces).
"""
from __future__ import annotations

import fcntl
import os
from pathlib import Path
from typing import Dict

from videosce.errors import UserError

LOCK_FILE = ".lock"
_held: Dict[Path, int] = {}  # resolved output_dir -> the descriptor holding its lock, for this process's life


class OutputDirInUse(UserError):
    """Another live process holds the output directory."""


def lock_output_dir(output_dir: str | Path) -> None:
    """Hold `output_dir`'s lock until this process ends; OutputDirInUse, naming the holder's pid, when
    another process holds it. A process may call it again for a directory it holds (a pretraining job
    that then evaluates, an in-process resume)."""
    directory = Path(output_dir).resolve()
    if directory in _held:
        return
    fd = os.open(directory / LOCK_FILE, os.O_RDWR | os.O_CREAT, 0o644)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        holder = os.read(fd, 32).decode(errors="replace").strip() or "unknown"
        os.close(fd)
        raise OutputDirInUse(f"output_dir {directory} is in use by another run (pid {holder}); wait for it to end, stop it, "
                             "or choose another output_dir") from None
    os.ftruncate(fd, 0)
    os.write(fd, f"{os.getpid()}\n".encode())
    _held[directory] = fd
