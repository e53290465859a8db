"""Recall@k by cosine similarity in float32, as a few large tensor operations (10k x 10k in seconds).

A query hits at k when fewer than k other-class gallery items are more similar than its best
same-class one (ties count as hits): "a top-k gallery item has the query's class". Queries and
gallery are sorted by class, so within one chunk's similarity matrix the same-class pairs of a
class form one small block: its row maxima are the best same-class similarities, then it is
blanked and a single top-k gives the most similar other-class items. Low precision (bfloat16)
is not used: its spacing near 0.9 is 0.004, so the close similarities of non-negative features
would tie and reorder.
"""
from __future__ import annotations

from typing import Dict, Sequence

import torch
import torch.nn.functional as F


def retrieval_hits(
    query_feats: torch.Tensor,
    query_labels: torch.Tensor,
    gallery_feats: torch.Tensor,
    gallery_labels: torch.Tensor,
    ks: Sequence[int],
    chunk: int = 2048,
) -> torch.Tensor:
    """(Q, len(ks)) bool: a same-class gallery item is among the query's top-k by cosine similarity.

    Runs on the features' device: a GPU makes 10k x 10k instant."""
    if query_feats.shape[0] == 0 or gallery_feats.shape[0] == 0:
        raise ValueError("retrieval needs at least one query and one gallery video")
    query_labels, gallery_labels = query_labels.cpu(), gallery_labels.cpu()
    q_order, g_order = query_labels.argsort(stable=True), gallery_labels.argsort(stable=True)
    query = F.normalize(query_feats.float(), dim=1)[q_order.to(query_feats.device)]
    gallery = F.normalize(gallery_feats.float(), dim=1)[g_order.to(gallery_feats.device)]
    q_labels = query_labels[q_order]
    classes = int(max(query_labels.max(), gallery_labels.max())) + 1
    g_count = torch.bincount(gallery_labels, minlength=classes)
    g_end = g_count.cumsum(0).tolist()
    g_start = [end - count for end, count in zip(g_end, g_count.tolist())]
    max_k, cols = max(ks), torch.tensor(list(ks), device=query.device) - 1
    hits = []
    for first in range(0, len(query), chunk):
        sim = query[first : first + chunk] @ gallery.t()
        best = torch.full((len(sim),), float("-inf"), device=sim.device)
        labels, counts = torch.unique_consecutive(q_labels[first : first + chunk], return_counts=True)
        row = 0
        for label, count in zip(labels.tolist(), counts.tolist()):
            block = sim[row : row + count, g_start[label] : g_end[label]]
            if block.shape[1]:
                best[row : row + count] = block.amax(dim=1)
                block.fill_(float("-inf"))
            row += count
        top = sim.topk(min(max_k, sim.shape[1]), dim=1).values
        kth = F.pad(top, (0, max_k - top.shape[1]), value=float("-inf"))[:, cols]
        hits.append((kth <= best[:, None]) & (best > float("-inf"))[:, None])
    out = torch.empty(len(query), len(ks), dtype=torch.bool)
    out[q_order] = torch.cat(hits).cpu()
    return out


def recall_at_k(
    query_feats: torch.Tensor,
    query_labels: torch.Tensor,
    gallery_feats: torch.Tensor,
    gallery_labels: torch.Tensor,
    ks: Sequence[int] = (1, 5, 10, 20, 50),
) -> Dict[int, float]:
    """Percent of queries with at least one same-class video among their top-k by cosine similarity."""
    hits = retrieval_hits(query_feats, query_labels, gallery_feats, gallery_labels, ks)
    return {k: 100.0 * hits[:, i].float().mean().item() for i, k in enumerate(ks)}
