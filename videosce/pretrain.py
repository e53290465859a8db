"""The pretraining job: data -> method -> trainer -> retrieval check."""
from __future__ import annotations

from typing import Dict, Optional

from omegaconf import DictConfig

from videosce.data.builders import build_train_dataset, with_clip_normalization
from videosce.data.datasets import read_index
from videosce.engine.checkpoint import FINAL_BACKBONE, LAST
from videosce.engine.run import prepare_run, write_json
from videosce.engine.trainer import Trainer, with_runnable_precision
from videosce.eval.knn import knn_monitor
from videosce.eval.retrieval import evaluate_retrieval
from videosce.methods import build_method
from videosce.methods.momentum import keys_per_epoch, warn_if_queue_exceeds_epoch
from videosce.utils.dist import get_world_size, is_main_process


def pretrain(cfg: DictConfig) -> Optional[Dict[str, float]]:
    """Train `method.name` on the train split; returns the end-of-run retrieval R@k (if enabled).

    The clip normalisation is made explicit first and the precision is the one the device runs well
    (`with_runnable_precision`), so config.yaml and every checkpoint record what the run used."""
    cfg = with_runnable_precision(with_clip_normalization(cfg))
    output_dir = prepare_run(cfg)
    trainer = Trainer(cfg)  # joins the process group first: the index readers wait on rank 0
    index = read_index(cfg.data, "train")
    dataset = build_train_dataset(cfg, index, num_clips=cfg.data.num_views, local_views=cfg.data.local_views)
    model = build_method(cfg.model, cfg.method, seed=cfg.seed)
    if getattr(model, "negatives", None) is not None:
        t = cfg.trainer
        warn_if_queue_exceeds_epoch(cfg.method.queue_size, keys_per_epoch(len(dataset), t.batch_size, get_world_size(), t.accumulate_grad_batches, cfg.method.sym))
    every = cfg.eval.knn_every_n_epochs
    trainer.fit(
        model,
        dataset,
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
