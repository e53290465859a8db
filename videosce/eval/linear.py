"""Linear evaluation and kNN on a frozen backbone, from features extracted once and cached.

Every train and test video contributes data.eval_clips x eval.num_crops views (the test
protocol's views). The linear classifier sees one cached view per train video and epoch,
drawn like a random training clip; the test score of a video is its softmax averaged over
its views. kNN uses each video's view-mean feature.
"""
from __future__ import annotations

from typing import Dict, Tuple

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn
from torch.utils.data import Dataset

from videosce.data.transforms import Normalization
from videosce.engine.trainer import Trainer
from videosce.models import VideoBackbone

from .features import EvalContext, VideoFeatures, eval_features
from .knn import knn_top1
from .metrics import classification_report
from .report import save_class_report, save_curves


class LinearProbe(nn.Module):
    """A linear layer on frozen features; `forward` is the Trainer's step (cross-entropy)."""

    def __init__(self, dim: int, num_classes: int) -> None:
        super().__init__()
        self.head = nn.Linear(dim, num_classes)

    def forward(self, inputs: torch.Tensor, labels: torch.Tensor) -> Dict[str, torch.Tensor]:
        logits = self.head(inputs)
        return {"loss": F.cross_entropy(logits, labels), "acc": (logits.argmax(1) == labels).float().mean() * 100}


class CachedViews(Dataset):
    """Item i: one of video i's cached views, drawn from (seed, epoch, i) so runs are reproducible."""

    def __init__(self, feats: torch.Tensor, labels: torch.Tensor, seed: int) -> None:
        self.feats, self.labels, self.seed, self.epoch = feats, labels, seed, 0

    def set_epoch(self, epoch: int) -> None:
        self.epoch = epoch

    def __len__(self) -> int:
        return len(self.feats)

    def __getitem__(self, index: int) -> Tuple[torch.Tensor, int, int]:
        view = int(np.random.default_rng([self.seed, self.epoch, index]).integers(self.feats.shape[1]))
        return self.feats[index, view], int(self.labels[index]), index


def train_linear(train: VideoFeatures, num_classes: int, trainer_cfg, optim_cfg, *, seed: int, ctx: EvalContext) -> LinearProbe:
    """The probe trained with the Trainer (trainer.*, optim.*) on the decodable train videos; logs `linear.csv`.

    Seeded here, so a run on cached features gives the same probe as the run that extracted them.
    The cached features are in memory: the loader needs no worker processes."""
    torch.manual_seed(seed)
    probe = LinearProbe(train.feats.shape[-1], num_classes)
    trainer = Trainer(trainer_cfg, optim_cfg, device=ctx.device, output_dir=ctx.run_dir, seed=seed, stream="linear")
    return trainer.fit(probe, CachedViews(train.feats[train.valid], train.labels[train.valid], seed))


def linear_eval(
    backbone: VideoBackbone, data_cfg, eval_cfg, trainer_cfg, optim_cfg, *, normalization: Normalization, seed: int, ctx: EvalContext
) -> Dict[str, float]:
    """Linear top-1/top-5 (video and clip level), mean per-class accuracy, kNN top-1 for each eval.knn_k,
    and the number of undecodable videos (train: left out; test: counted as wrong)."""
    train, train_index = eval_features(backbone, data_cfg, eval_cfg, "train", normalization=normalization, ctx=ctx, per_view=True)
    test, test_index = eval_features(backbone, data_cfg, eval_cfg, "test", normalization=normalization, ctx=ctx, per_view=True)
    num_classes = len(train_index.classes)
    probe = train_linear(train, num_classes, trainer_cfg, optim_cfg, seed=seed, ctx=ctx).eval()
    with torch.no_grad():
        probs = F.softmax(probe.head(test.feats.to(ctx.device)), dim=-1).cpu()
    report = classification_report(probs, test.labels, test.valid)
    save_class_report(ctx.run_dir, test_index.classes, report, f"linear {data_cfg.format} split {data_cfg.split}")
    save_curves(ctx.run_dir)
    bank, query = train._replace(feats=train.feats.mean(dim=1)), test._replace(feats=test.feats.mean(dim=1))
    knn = {f"knn{k}_top1": knn_top1(query, bank, num_classes, k, eval_cfg.knn_temperature) for k in eval_cfg.knn_k}
    undecodable = {"undecodable_train": int((~train.valid).sum()), "undecodable_test": int((~test.valid).sum())}
    return {**report.metrics, **knn, **undecodable}
