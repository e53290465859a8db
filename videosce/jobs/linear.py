"""Linear evaluation and kNN on a frozen backbone (checkpoint=<path> | random | [a,b,random]).

Features (data.eval_clips x eval.num_crops views per video) are extracted once and cached under
<output_dir>/feature_cache; the linear classifier trains on them with trainer.* / optim.*; kNN
(cosine, weights exp(sim / eval.knn_temperature)) runs for each k of eval.knn_k.
"""
from __future__ import annotations

from typing import Any, Dict, Optional, Sequence

from omegaconf import DictConfig

from videosce.config import parse_cli

from . import command

JOB = "linear"


def run(cfg: DictConfig) -> Dict[str, Any]:
    """{checkpoint entry: its linear.json row}; also writes linear.json / linear.md."""
    from videosce.eval.linear import linear_eval

    from .common import evaluate_checkpoints

    title = (
        f"linear + kNN (frozen {cfg.model.backbone}) on {cfg.data.format} split {cfg.data.split}: {cfg.data.eval_clips} clips x "
        f"{cfg.eval.num_crops} crops per video, softmax averaged per video (top1/top5); kNN T={cfg.eval.knn_temperature}"
    )
    return evaluate_checkpoints(cfg, JOB, title, lambda backbone, data, normalization, ctx: linear_eval(
        backbone, data, cfg.eval, cfg.trainer, cfg.optim, normalization=normalization, seed=cfg.seed, ctx=ctx))


def main(argv: Optional[Sequence[str]] = None) -> None:
    cfg = parse_cli(__doc__, argv, job=JOB)
    with command():
        run(cfg)
