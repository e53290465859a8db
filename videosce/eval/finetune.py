"""Finetuning: backbone + dropout + linear classifier trained end to end on one random clip per video,
tested on data.eval_clips uniformly spaced clips x eval.num_crops crops with softmax averaged per video;
reported at the last epoch and at the epoch the test split rates best (named as such)."""
from __future__ import annotations

from pathlib import Path
from typing import Dict, List, Tuple

import torch
import torch.nn.functional as F
from torch import nn

from videosce.data.builders import build_eval_dataset, build_train_dataset, train_loader_options
from videosce.data.datasets import bad_videos, read_index
from videosce.data.transforms import Normalization
from videosce.engine.trainer import Trainer
from videosce.models import VideoBackbone
from videosce.models.heads import classifier

from .features import EvalContext, extract_features
from .metrics import ClassificationReport, classification_report
from .report import save_class_report, save_curves

TOPK = ("top1", "top5")  # top5 is absent with 5 classes or fewer (metrics.classification_report)


class VideoClassifier(nn.Module):
    """Backbone + dropout + linear layer; `forward` is the training step (cross-entropy)."""

    def __init__(self, backbone: VideoBackbone, num_classes: int, dropout: float = 0.0) -> None:
        super().__init__()
        self.backbone = backbone
        self.head = classifier(backbone.num_features, num_classes, dropout)

    def logits(self, clips: torch.Tensor) -> torch.Tensor:
        return self.head(self.backbone(clips))

    def forward(self, inputs: List[torch.Tensor], labels: torch.Tensor) -> Dict[str, torch.Tensor]:
        logits = self.logits(inputs[0])
        return {"loss": F.cross_entropy(logits, labels), "acc": (logits.argmax(1) == labels).float().mean() * 100}


def softmax_pool(model: VideoClassifier, clips: torch.Tensor) -> torch.Tensor:
    return F.softmax(model.logits(clips), dim=1)


def finetune(
    backbone: VideoBackbone, data_cfg, eval_cfg, trainer_cfg, optim_cfg, *, dropout: float, normalization: Normalization, seed: int, ctx: EvalContext
) -> Dict[str, float]:
    """Train on the train split; video-level top-1/top-5 (softmax averaged over all views), clip-level
    top-1/top-5 and mean per-class accuracy on the test split after the last epoch, and how many videos
    were unreadable (train: skipped and substituted; test: counted as wrong). With
    `eval.test_every_n_epochs` the test split is also scored every N epochs (logged to monitor.csv);
    `best_by_test_{top1,top5,epoch}` is the scored epoch with the highest test top-1, the figure the SCE
    reference reports: the test split selected it, so it is optimistic (it equals the last epoch's
    when only that one was scored). Writes `finetune.csv`, per-class accuracies and the confusion
    matrix of the last epoch (`per_class.json`, `confusion.png`) and the training curves into `ctx.run_dir`.
    Sections: data (train clips, test views), eval (test views and schedule), trainer and optim (the
    training run); `dropout` before the classifier (model.dropout), `seed` the data order's."""
    data, ev, run_dir = data_cfg, eval_cfg, Path(ctx.run_dir)
    train_index = read_index(data, "train")
    model = VideoClassifier(backbone, len(train_index.classes), dropout)
    trainer = Trainer(trainer_cfg, optim_cfg, device=ctx.device, output_dir=run_dir, seed=seed, stream="finetune",
                      loader_options=train_loader_options(data, ctx.device))
    test_index = read_index(data, "test")
    test = build_eval_dataset(data, ev, test_index, normalization=normalization, bad_video_log=ctx.bad_video_log)
    scored: Dict[int, Dict[str, float]] = {}

    def test_report() -> Tuple[ClassificationReport, int]:
        """The test split's report and its count of undecodable videos."""
        probs = extract_features(model, test, ev.batch_size, data.num_workers, ctx.device, "test", softmax_pool, per_view=True)
        return classification_report(probs.feats, probs.labels, probs.valid), int((~probs.valid).sum())

    def periodic_test(epoch: int) -> Dict[str, float]:
        every = ev.test_every_n_epochs
        if not every or epoch % every or epoch == trainer_cfg.max_epochs:  # the last epoch is scored below
            return {}
        scored[epoch] = test_report()[0].metrics
        return {f"test_{k}": scored[epoch][k] for k in TOPK if k in scored[epoch]}

    train = build_train_dataset(data, train_index, num_clips=1, normalization=normalization, seed=seed, bad_video_log=ctx.bad_video_log)
    model = trainer.fit(model, train, epoch_end_metrics=periodic_test)
    report, undecodable_test = test_report()
    scored[trainer_cfg.max_epochs] = report.metrics
    best = max(scored, key=lambda epoch: (scored[epoch]["top1"], epoch))  # ties: the later epoch
    save_class_report(run_dir, test_index.classes, report, f"finetune {data.format} split {data.split}")
    save_curves(run_dir)
    skipped = bad_videos(ctx.bad_video_log, "train") & {str(r.path) for r in train_index.records}
    return {
        **report.metrics, **{f"best_by_test_{k}": scored[best][k] for k in TOPK if k in scored[best]}, "best_by_test_epoch": float(best),
        "undecodable_train": len(skipped), "undecodable_test": undecodable_test,
    }
