"""The jobs: what a command runs, from a whole config to its results, above engine/ and eval/.

Each job module has `run(cfg)` (the work; returns its results) and `main(argv=None)` (the command
line: `videosce-<job>` and `python tools/<job>.py`). A job module imports only the torch-free
config at load and the rest inside `run`, so `main` answers a config mistake before torch is
imported. `run` joins the process group first (`videosce.utils.dist.setup`), before it reads an
index or writes anything, then generates demo data if asked (`common.prepare_data`), then passes
each component its own config section plus explicit arguments. Nothing below imports a job.
`main` runs the job inside `command()`.
"""
from __future__ import annotations

import sys
from contextlib import contextmanager
from typing import Iterator

from videosce.errors import exit_on_user_error


@contextmanager
def command() -> Iterator[None]:
    """Around a command's job: a user error is one line and exit 2; on success the process group
    the job joined (under torchrun) is closed before the interpreter exits (`dist.close`)."""
    with exit_on_user_error():
        yield
    if "torch" in sys.modules:  # a job that never imported torch never joined a group
        from videosce.utils import dist

        dist.close()
