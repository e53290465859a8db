"""The pretraining job: data -> method -> trainer -> retrieval check."""
from __future__ import annotations

from typing import Dict, Optional

from omegaconf import DictConfig

from videosce.data.builders import BAD_VIDEO_LOG, build_train_dataset
from videosce.data.datasets import check_bad_fraction, read_index
from videosce.engine.checkpoint import FINAL_BACKBONE, LAST
from videosce.engine.run import prepare_run, write_json
from videosce.engine.trainer import Trainer, with_runnable_precision
from videosce.eval.knn import knn_monitor
from videosce.eval.retrieval import evaluate_retrieval
from videosce.methods import build_method
from videosce.utils.dist import is_main_process


def pretrain(cfg: DictConfig) -> Optional[Dict[str, float]]:
    """Train `method.name` on the train split; returns the end-of-run retrieval R@k (if enabled)."""
    cfg = with_runnable_precision(cfg)  # before the config is saved: it records the precision used
    output_dir = prepare_run(cfg)
    trainer = Trainer(cfg)  # joins the process group first: the index readers wait on rank 0
    index = read_index(cfg.data, "train")
    dataset = build_train_dataset(cfg, index, num_clips=cfg.data.num_views)
    model = build_method(cfg)
    bad_log = output_dir / BAD_VIDEO_LOG
    every = cfg.eval.knn_every_n_epochs
    trainer.fit(
        model,
        dataset,
        epoch_end_checks=[lambda: check_bad_fraction(bad_log, len(dataset), cfg.data.max_bad_fraction)],
        epoch_end_metrics=lambda epoch: knn_monitor(model.backbone, cfg, trainer.device) if every and epoch % every == 0 else {},
        best_metric="knn_top1" if every else None,
    )
    print(f"backbone weights (for the evaluation tools): {trainer.checkpoint_dir / FINAL_BACKBONE}; "
          f"full state (for resume=auto): {trainer.checkpoint_dir / LAST}")
    if not (cfg.eval.retrieval_at_end and is_main_process()):
        return None
    results = evaluate_retrieval(model.backbone, cfg, trainer.device)
    write_json(output_dir / "retrieval.json", results)
    print("retrieval of the pretrained backbone (test queries, train gallery): " + ", ".join(f"{k} {v:.1f}" for k, v in results.items()))
    return results
