"""Finetuning: backbone + linear classifier trained end to end, tested at video level."""
from __future__ import annotations

from pathlib import Path
from typing import Dict, List, Sequence

import torch
import torch.nn.functional as F
from torch import nn
from torch.utils.data import DataLoader
from tqdm import tqdm

from videosce.data.builders import build_eval_dataset, build_train_dataset
from videosce.data.datasets import read_index
from videosce.engine.trainer import Trainer
from videosce.models import VideoBackbone
from videosce.models.heads import classifier


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


def topk_accuracy(scores: torch.Tensor, labels: torch.Tensor, ks: Sequence[int] = (1, 5)) -> Dict[int, float]:
    """Percent of rows whose label is among the k highest scores."""
    top = scores.topk(min(max(ks), scores.shape[1]), dim=1).indices
    hits = top == labels[:, None]
    return {k: 100.0 * hits[:, :k].any(dim=1).float().mean().item() for k in ks}


@torch.no_grad()
def video_scores(model: VideoClassifier, loader: DataLoader, device: torch.device) -> tuple[torch.Tensor, torch.Tensor]:
    """Softmax scores averaged over each video's clips; undecodable videos (index -1) count as wrong."""
    model.eval().to(device)
    scores, labels = [], []
    for clips, label, index in tqdm(loader, desc="test", dynamic_ncols=True, leave=False):
        b, k = clips.shape[:2]
        probs = F.softmax(model.logits(clips.flatten(0, 1).to(device)), dim=1).view(b, k, -1).mean(1).cpu()
        probs[index < 0] = 0.0
        scores.append(probs)
        labels.append(label)
    return torch.cat(scores), torch.cat(labels)


def finetune(backbone: VideoBackbone, cfg, output_dir: str | Path) -> Dict[str, float]:
    """Train on the train split with one random clip per video; video-level top-1/top-5 on test."""
    train_index = read_index(cfg.data, "train")
    model = VideoClassifier(backbone, len(train_index.classes), cfg.model.dropout)
    trainer = Trainer(cfg, output_dir=output_dir, stream="finetune")
    trainer.fit(model, build_train_dataset(cfg, train_index, num_clips=1))
    device = trainer.device
    test = build_eval_dataset(cfg, read_index(cfg.data, "test"))
    loader = DataLoader(test, batch_size=cfg.eval.batch_size, num_workers=cfg.data.num_workers)
    acc = topk_accuracy(*video_scores(model, loader, device))
    return {"top1": acc[1], "top5": acc[5]}
