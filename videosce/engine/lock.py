"""One run per output directory: a job holds an exclusive lock on `<output_dir>/.lock` while it lives.

The lock is a POSIX record lock (`fcntl.lockf`), owned by the process: the kernel drops it when the
process ends in any way (exit, exception, SIGKILL, OOM kill), so a killed run never leaves a stale
lock and `resume=auto` can start at once. Forked children (DataLoader workers) do not inherit it
(they would with `flock`, and a dead run's workers would hold it until they noticed). The file keeps
the holder's pid for the refusal message. The lock is advisory; NFS supports it through its lock
manager.
"""
from __future__ import annotations

import errno
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
        fcntl.lockf(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except OSError as exc:
        if exc.errno not in (errno.EACCES, errno.EAGAIN):
            raise
        holder = os.read(fd, 32).decode(errors="replace").strip() or "unknown"
        os.close(fd)
        raise OutputDirInUse(f"output_dir {directory} is in use by another run (pid {holder}); wait for it to end, stop it, "
                             "or choose another output_dir") from None
    os.ftruncate(fd, 0)
    os.write(fd, f"{os.getpid()}\n".encode())
    _held[directory] = fd
