"""Classification metrics at clip and video level, per class, and their mean ± std over splits."""
from __future__ import annotations

import math
from typing import Any, Dict, List, Mapping, NamedTuple, Optional, Sequence

import torch
from einops import rearrange, repeat


def topk_accuracy(scores: torch.Tensor, labels: torch.Tensor, ks: Sequence[int] = (1, 5), valid: Optional[torch.Tensor] = None) -> Dict[int, float]:
    """Percent of rows whose label is among the k highest scores; rows with valid=False count as wrong."""
    top = scores.topk(min(max(ks), scores.shape[1]), dim=1).indices
    hits = top == labels[:, None]
    if valid is not None:
        hits &= valid[:, None]
    return {k: 100.0 * hits[:, :k].any(dim=1).float().mean().item() for k in ks}


class ClassificationReport(NamedTuple):
    metrics: Dict[str, float]  # top1/top5 (video level), clip_top1/clip_top5, mean_class_acc; no top-5 with <= 5 classes
    per_class: List[Optional[float]]  # video-level accuracy of each class (None: no test video)
    confusion: torch.Tensor  # (C,C) counts, rows = true class, columns = prediction; decodable videos only


def classification_report(view_scores: torch.Tensor, labels: torch.Tensor, valid: torch.Tensor) -> ClassificationReport:
    """Metrics from per-view class probabilities (N,V,C): a video's score is the mean over its views.

    Clip level treats every view (clip x crop) as a sample; an undecodable video (valid=False)
    counts as wrong everywhere and stays out of the confusion matrix. With 5 classes or fewer,
    top-5 is left out: every decodable video would score.
    """
    v, c = view_scores.shape[1:]
    ks = (1, 5) if c > 5 else (1,)
    video = topk_accuracy(view_scores.mean(dim=1), labels, ks, valid)
    clip = topk_accuracy(rearrange(view_scores, "n v c -> (n v) c"), repeat(labels, "n -> (n v)", v=v), ks, repeat(valid, "n -> (n v)", v=v))
    pred = view_scores.mean(dim=1).argmax(dim=1)
    correct = (pred == labels) & valid
    per_class = [100.0 * correct[labels == k].float().mean().item() if (labels == k).any() else None for k in range(c)]
    confusion = torch.zeros(c, c, dtype=torch.long)
    confusion.index_put_((labels[valid], pred[valid]), torch.ones(int(valid.sum()), dtype=torch.long), accumulate=True)
    seen = [a for a in per_class if a is not None]
    metrics = {
        **{f"top{k}": video[k] for k in ks}, **{f"clip_top{k}": clip[k] for k in ks},
        "mean_class_acc": sum(seen) / len(seen),
    }
    return ClassificationReport(metrics, per_class, confusion)


def mean_std(rows: Sequence[Mapping[str, float]]) -> Dict[str, float]:
    """{key: mean, key_std: sample standard deviation (n - 1)} over rows with the same keys."""
    out: Dict[str, float] = {}
    for key in rows[0]:
        values = [row[key] for row in rows]
        mean = sum(values) / len(values)
        out[key] = mean
        out[f"{key}_std"] = math.sqrt(sum((x - mean) ** 2 for x in values) / (len(values) - 1)) if len(values) > 1 else 0.0
    return out


def per_class_json(classes: Sequence[str], report: ClassificationReport) -> Dict[str, Any]:
    return {"classes": list(classes), "accuracy": report.per_class, "confusion": report.confusion.tolist()}
