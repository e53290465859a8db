"""Video retrieval R@k of one or more checkpoints (checkpoint=<path> | random | [a,b,random]).

eval.retrieval_mode=clean (default), vcop or sce picks the protocol; every output names it. Features
are cached per checkpoint under <output_dir>/feature_cache; each checkpoint's run directory gets
retrieval.png (queries beside their top-5 gallery videos, hits green, misses red).
"""
from __future__ import annotations

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from videosce.config import parse_cli  # noqa: E402
from videosce.errors import exit_on_user_error  # noqa: E402


def main(argv=None) -> None:
    cfg = parse_cli(__doc__, argv, job="retrieval")
    with exit_on_user_error():
        run(cfg)


def run(cfg) -> None:
    from videosce.eval.report import evaluate_checkpoints  # imports torch: only once the config is known good
    from videosce.eval.retrieval import evaluate_retrieval, retrieval_title

    title = retrieval_title(cfg)
    evaluate_checkpoints(
        cfg, "retrieval", title,
        lambda backbone, split_cfg, ctx: evaluate_retrieval(backbone, split_cfg, ctx.device, ctx.cache, ctx.run_dir / "retrieval.png"),
    )


if __name__ == "__main__":
    main()
