"""Video retrieval R@k of one or more checkpoints (checkpoint=<path> | random | [a,b,random]).

eval.retrieval_mode=clean (default), vcop or sce picks the protocol; every output names it. Features
are cached per checkpoint under <output_dir>/feature_cache; each checkpoint's run directory gets
retrieval.png (queries beside their top-5 gallery videos, hits green, misses red).
"""
from __future__ import annotations

from typing import Any, Dict, Optional, Sequence

from omegaconf import DictConfig

from videosce.config import parse_cli

from . import command

JOB = "retrieval"


def run(cfg: DictConfig) -> Dict[str, Any]:
    """{checkpoint entry: its retrieval.json row}; also writes retrieval.json / retrieval.md."""
    from videosce.eval.retrieval import evaluate_retrieval, retrieval_title

    from .common import evaluate_checkpoints

    return evaluate_checkpoints(cfg, JOB, retrieval_title(cfg.data, cfg.eval), lambda backbone, data, normalization, ctx: evaluate_retrieval(
        backbone, data, cfg.eval, normalization=normalization, ctx=ctx, figure=ctx.run_dir / "retrieval.png"))


def main(argv: Optional[Sequence[str]] = None) -> None:
    cfg = parse_cli(__doc__, argv, job=JOB)
    with command():
        run(cfg)
