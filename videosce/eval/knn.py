"""Weighted kNN classification on frozen features (Wu et al. 2018; DINO's eval_knn), and an online monitor.

Each query's k most cosine-similar bank videos vote for their class with weight exp(sim / T).
"""
from __future__ import annotations

from typing import Dict

import torch
import torch.nn.functional as F
from torch import nn

from videosce.data.builders import build_eval_dataset
from videosce.data.datasets import VideoIndex, read_index
from videosce.data.transforms import Normalization

from .features import EvalContext, VideoFeatures, extract_features
from .metrics import topk_accuracy


def knn_scores(
    query: torch.Tensor, bank: torch.Tensor, bank_labels: torch.Tensor, num_classes: int, k: int, temperature: float, chunk: int = 1024
) -> torch.Tensor:
    """(Q, num_classes) summed vote weights exp(sim / T) of each query's k nearest bank items."""
    query, bank = F.normalize(query.float(), dim=1), F.normalize(bank.float(), dim=1)
    out = []
    for start in range(0, len(query), chunk):
        top = (query[start : start + chunk] @ bank.t()).topk(min(k, len(bank)), dim=1)
        votes = torch.zeros(len(top.values), num_classes)
        out.append(votes.scatter_add_(1, bank_labels[top.indices], (top.values / temperature).exp()))
    return torch.cat(out)


def knn_top1(query: VideoFeatures, bank: VideoFeatures, num_classes: int, k: int, temperature: float) -> float:
    """Top-1 percent of per-video query features against the decodable bank videos; undecodable queries are wrong."""
    scores = knn_scores(query.feats, bank.feats[bank.valid], bank.labels[bank.valid], num_classes, k, temperature)
    return topk_accuracy(scores, query.labels, (1,), query.valid)[1]


def evenly_spaced(index: VideoIndex, count: int) -> VideoIndex:
    """At most `count` records spread over the whole list (lists are grouped by class)."""
    if count >= len(index.records):
        return index
    picks = torch.linspace(0, len(index.records) - 1, count).long().tolist()
    return VideoIndex([index.records[i] for i in picks], index.classes)


def knn_monitor(backbone: nn.Module, data_cfg, eval_cfg, *, normalization: Normalization, ctx: EvalContext) -> Dict[str, float]:
    """{"knn_top1": percent}: test videos classified by kNN (k = eval.knn_k[0]) against train videos.

    Uses `eval.knn_monitor_videos` evenly spaced videos of each split of `data_cfg`, the eval
    transform and global average pooling, so it can run every few pretraining epochs; the
    backbone's train/eval mode is restored.
    """
    feats = {}
    for subset in ("train", "test"):
        index = evenly_spaced(read_index(data_cfg, subset), eval_cfg.knn_monitor_videos)
        dataset = build_eval_dataset(data_cfg, eval_cfg, index, normalization=normalization, bad_video_log=ctx.bad_video_log)
        feats[subset] = extract_features(backbone, dataset, eval_cfg.batch_size, data_cfg.num_workers, ctx.device, f"kNN monitor {subset}")
        classes = len(index.classes)
    return {"knn_top1": knn_top1(feats["test"], feats["train"], classes, eval_cfg.knn_k[0], eval_cfg.knn_temperature)}
