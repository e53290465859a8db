"""Check a dataset before training: probe every train/test video and decode its first and last
frame in parallel (data.num_workers); report unreadable, cut-short and missing files, duration/fps
stats and resolutions. Exit code 0 when every listed video is readable, 1 otherwise, 2 for a bad
config or split file; the report goes to <output_dir>/check_dataset.txt.
"""
from __future__ import annotations

import sys
from pathlib import Path
from typing import Optional, Sequence

from omegaconf import DictConfig

from videosce.config import parse_cli

from . import command

JOB = "check_dataset"
REPORT_FILE = "check_dataset.txt"


def run(cfg: DictConfig, progress: bool = True) -> int:
    """Print the report, write it to <output_dir>/check_dataset.txt; returns the exit code: 1 if any
    listed video is unreadable, cut short or cannot be read at all, else 0."""
    from videosce.data.check import check_dataset
    from videosce.utils import dist

    from .common import prepare_data

    dist.setup(cfg.trainer.device)
    prepare_data(cfg.data)
    report = check_dataset(cfg.data, progress)
    text = report.format()
    out = Path(cfg.output_dir) / REPORT_FILE
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(text + "\n")
    print(text)
    print(f"report written to {out}")
    return 0 if report.ok else 1


def main(argv: Optional[Sequence[str]] = None) -> None:
    cfg = parse_cli(__doc__, argv, job=JOB)
    with command():
        code = run(cfg)
    sys.exit(code)
