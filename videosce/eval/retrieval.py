"""Nearest-neighbour video retrieval: test videos query the train videos by cosine similarity."""
from __future__ import annotations

import logging
from typing import Dict, Sequence, Tuple

import torch
import torch.nn.functional as F
from torch import nn
from torch.utils.data import DataLoader, Dataset
from tqdm import tqdm

from videosce.data.builders import build_eval_dataset
from videosce.data.datasets import read_index

log = logging.getLogger(__name__)


def recall_at_k(
    query_feats: torch.Tensor,
    query_labels: torch.Tensor,
    gallery_feats: torch.Tensor,
    gallery_labels: torch.Tensor,
    ks: Sequence[int] = (1, 5, 10, 20, 50),
) -> Dict[int, float]:
    """Percent of queries with at least one same-class video among their top-k by cosine similarity."""
    if query_feats.shape[0] == 0 or gallery_feats.shape[0] == 0:
        raise ValueError("retrieval needs at least one query and one gallery video")
    sim = F.normalize(query_feats.float(), dim=1) @ F.normalize(gallery_feats.float(), dim=1).t()
    top = sim.topk(min(max(ks), sim.shape[1]), dim=1).indices
    hits = gallery_labels[top] == query_labels[:, None]
    return {k: 100.0 * hits[:, :k].any(dim=1).float().mean().item() for k in ks}


@torch.no_grad()
def extract_features(
    backbone: nn.Module, dataset: Dataset, batch_size: int, num_workers: int, device: torch.device, desc: str = "features"
) -> Tuple[torch.Tensor, torch.Tensor]:
    """Per-video features: pooled backbone features averaged over the video's clips.

    Videos the dataset could not decode (index -1) are dropped and counted in the log.
    """
    backbone.eval().to(device)
    loader = DataLoader(dataset, batch_size=batch_size, num_workers=num_workers, shuffle=False, drop_last=False)
    feats, labels, bad = [], [], 0
    for clips, label, index in tqdm(loader, desc=desc, dynamic_ncols=True, leave=False):
        ok = index >= 0
        bad += int((~ok).sum())
        if ok.any():
            clips = clips[ok].to(device)
            b, k = clips.shape[:2]
            feats.append(backbone(clips.flatten(0, 1)).view(b, k, -1).mean(dim=1).cpu())
            labels.append(label[ok])
    if bad:
        log.warning("%s: %d of %d videos could not be decoded and were left out", desc, bad, len(dataset))
    if not feats:
        raise RuntimeError(f"{desc}: no video could be decoded")
    return torch.cat(feats), torch.cat(labels)


def evaluate_retrieval(backbone: nn.Module, cfg, device: torch.device) -> Dict[str, float]:
    """R@k (percent) with the test split as queries and the train split as gallery."""
    sets = {}
    for subset in ("train", "test"):
        dataset = build_eval_dataset(cfg, read_index(cfg.data, subset))
        sets[subset] = extract_features(backbone, dataset, cfg.eval.batch_size, cfg.data.num_workers, device, desc=f"{subset} features")
    recalls = recall_at_k(*sets["test"], *sets["train"], ks=cfg.eval.ks)
    return {f"R@{k}": value for k, value in recalls.items()}
