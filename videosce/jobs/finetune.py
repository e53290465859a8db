"""Finetune backbone + linear classifier from one or more checkpoints (checkpoint=<path> | random | [a,b,random]).

Test: data.eval_clips clips x eval.num_crops crops per video, softmax averaged; reports video- and
clip-level top-1/top-5 and mean per-class accuracy of the last epoch, and best_by_test_* (the epoch the
test split rates best, scored every eval.test_every_n_epochs); data.split=all runs splits 1-3 (mean ± std).
Each run directory gets finetune.csv, per_class.json, confusion.png and finetune_curves.png.
"""
from __future__ import annotations

from typing import Any, Dict, Optional, Sequence

from omegaconf import DictConfig

from videosce.config import parse_cli

from . import command

JOB = "finetune"


def run(cfg: DictConfig) -> Dict[str, Any]:
    """{checkpoint entry: its finetune.json row}; also writes finetune.json / finetune.md."""
    from videosce.eval.finetune import finetune

    from .common import evaluate_checkpoints

    title = (
        f"finetune {cfg.model.backbone} on {cfg.data.format} split {cfg.data.split}: test {cfg.data.eval_clips} clips x "
        f"{cfg.eval.num_crops} crops, softmax averaged per video (top1/top5, last epoch); clip_* = single views; "
        f"best_by_test_* = the epoch with the highest test top-1 among those scored (every {cfg.eval.test_every_n_epochs or cfg.trainer.max_epochs} "
        "and the last): selected on the test split, as the SCE reference reports"
    )
    return evaluate_checkpoints(cfg, JOB, title, lambda backbone, data, normalization, ctx: finetune(
        backbone, data, cfg.eval, cfg.trainer, cfg.optim, dropout=cfg.model.dropout, normalization=normalization, seed=cfg.seed, ctx=ctx))


def main(argv: Optional[Sequence[str]] = None) -> None:
    cfg = parse_cli(__doc__, argv, job=JOB)
    with command():
        run(cfg)
