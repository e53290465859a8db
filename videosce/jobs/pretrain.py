"""Self-supervised pretraining (SCE by default), then retrieval R@k of the trained backbone."""
from __future__ import annotations

from typing import Dict, Optional, Sequence

from omegaconf import DictConfig

from videosce.config import parse_cli

from . import command

JOB = "pretrain"


def run(cfg: DictConfig) -> Optional[Dict[str, float]]:
    """Train `method.name` on the train split; returns the end-of-run retrieval R@k (if enabled).

    The clip normalisation is made explicit first and the precision is the one the device runs well,
    so config.yaml and every checkpoint record what the run used."""
    from videosce.config import config_dict
    from videosce.data.builders import build_train_dataset, clip_normalization, train_loader_options
    from videosce.data.datasets import read_index
    from videosce.engine.checkpoint import FINAL_BACKBONE, LAST
    from videosce.engine.trainer import Trainer
    from videosce.eval import EvalContext, evaluate_retrieval, knn_monitor
    from videosce.methods import build_method
    from videosce.methods.momentum import keys_per_epoch, warn_if_queue_exceeds_epoch
    from videosce.utils import dist

    from .common import bad_video_log, prepare_data, prepare_run, with_clip_normalization, with_runnable_precision, write_json

    device = dist.setup(cfg.trainer.device)
    cfg = with_runnable_precision(with_clip_normalization(cfg), device)
    output_dir = prepare_run(cfg)
    prepare_data(cfg.data)
    data, normalization, bad_log = cfg.data, clip_normalization(cfg.data, cfg.model.backbone), bad_video_log(cfg)
    dataset = build_train_dataset(data, read_index(data, "train"), num_clips=data.num_views, normalization=normalization, seed=cfg.seed,
                                  bad_video_log=bad_log, segments=cfg.method.vclr.segments, local_views=data.local_views)
    model = build_method(cfg.model, cfg.method, seed=cfg.seed)
    t = cfg.trainer
    if getattr(model, "negatives", None) is not None:
        warn_if_queue_exceeds_epoch(cfg.method.queue_size, keys_per_epoch(len(dataset), t.batch_size, dist.get_world_size(), t.accumulate_grad_batches, cfg.method.sym))
    trainer = Trainer(t, cfg.optim, device=device, output_dir=output_dir, seed=cfg.seed, resume=cfg.resume,
                      loader_options=train_loader_options(data, device), run_config=config_dict(cfg))
    ctx = EvalContext(output_dir, device, bad_log)
    every = cfg.eval.knn_every_n_epochs

    def monitor(epoch: int) -> Dict[str, float]:
        return knn_monitor(model.backbone, data, cfg.eval, normalization=normalization, ctx=ctx) if every and epoch % every == 0 else {}

    trainer.fit(model, dataset, epoch_end_metrics=monitor, best_metric="knn_top1" if every else None)
    print(f"backbone weights (for the evaluation tools): {trainer.checkpoint_dir / FINAL_BACKBONE}; "
          f"full state (for resume=auto): {trainer.checkpoint_dir / LAST}")
    if not (cfg.eval.retrieval_at_end and dist.is_main_process()):
        return None
    results = evaluate_retrieval(model.backbone, data, cfg.eval, normalization=normalization, ctx=ctx)
    write_json(output_dir / "retrieval.json", results)
    print("retrieval of the pretrained backbone (test queries, train gallery): " + ", ".join(f"{k} {v:.1f}" for k, v in results.items()))
    return results


def main(argv: Optional[Sequence[str]] = None) -> None:
    cfg = parse_cli(__doc__, argv, job=JOB)
    with command():
        run(cfg)
