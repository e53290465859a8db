"""Linear evaluation and kNN on a frozen backbone (checkpoint=<path> | random | [a,b,random]).

Features (data.eval_clips x eval.num_crops views per video) are extracted once and cached under
<output_dir>/feature_cache; the linear classifier trains on them with trainer.* / optim.*; kNN
(cosine, weights exp(sim / eval.knn_temperature)) runs for each k of eval.knn_k.
"""
from __future__ import annotations

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from videosce.config import parse_cli  # noqa: E402
from videosce.errors import exit_on_user_error  # noqa: E402


def main(argv=None) -> None:
    cfg = parse_cli(__doc__, argv, job="linear")
    with exit_on_user_error():
        run(cfg)


def run(cfg) -> None:
    from videosce.eval.linear import linear_eval  # imports torch: only once the config is known good
    from videosce.eval.report import evaluate_checkpoints

    title = (
        f"linear + kNN (frozen {cfg.model.backbone}) on {cfg.data.format} split {cfg.data.split}: {cfg.data.eval_clips} clips x "
        f"{cfg.eval.num_crops} crops per video, softmax averaged per video (top1/top5); kNN T={cfg.eval.knn_temperature}"
    )
    evaluate_checkpoints(cfg, "linear", title, linear_eval)


if __name__ == "__main__":
    main()
