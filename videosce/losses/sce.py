"""Similarity Contrastive Estimation (Denize et al., 2023) and InfoNCE, as pure functions."""
from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn


def _online_log_probs(q: torch.Tensor, k: torch.Tensor, queue: torch.Tensor, temp: float) -> torch.Tensor:
    """log softmax over [positive, queue] of q . / temp -> (B, 1+K)."""
    positive = (q * k).sum(dim=1, keepdim=True)
    negatives = q @ queue.t()
    return F.log_softmax(torch.cat([positive, negatives], dim=1) / temp, dim=1)


def sce_loss(
    q: torch.Tensor,
    k: torch.Tensor,
    queue: torch.Tensor,
    temp: float = 0.1,
    temp_m: float = 0.05,
    coeff: float = 0.5,
) -> torch.Tensor:
    """Soft contrastive loss, mean over the batch.

    q (B,D) online predictions, k (B,D) target keys, queue (K,D) past keys; all are L2-normalised
    here. Target w_i = coeff * onehot(positive) + (1 - coeff) * softmax_queue(k_i . u / temp_m)
    with weight 0 on the positive slot (the paper's masked form); the target carries no gradient.
    coeff=1 is MoCo's InfoNCE, coeff=0 the purely relational (ReSSL-like) loss.
    """
    q = F.normalize(q.float(), dim=1)
    k = F.normalize(k.float(), dim=1)
    queue = F.normalize(queue.float(), dim=1)
    log_p = _online_log_probs(q, k, queue, temp)
    with torch.no_grad():
        relations = F.softmax(k @ queue.t() / temp_m, dim=1)
        target = torch.cat([torch.full_like(relations[:, :1], coeff), (1.0 - coeff) * relations], dim=1)
    return -(target * log_p).sum(dim=1).mean()


def infonce_loss(q: torch.Tensor, k: torch.Tensor, queue: torch.Tensor, temp: float = 0.1) -> torch.Tensor:
    """MoCo's InfoNCE with the positive at index 0 and the queue as negatives."""
    q = F.normalize(q.float(), dim=1)
    k = F.normalize(k.float(), dim=1)
    queue = F.normalize(queue.float(), dim=1)
    return -_online_log_probs(q, k, queue, temp)[:, 0].mean()


class SCELoss(nn.Module):
    def __init__(self, temp: float = 0.1, temp_m: float = 0.05, coeff: float = 0.5) -> None:
        super().__init__()
        self.temp, self.temp_m, self.coeff = temp, temp_m, coeff

    def forward(self, q: torch.Tensor, k: torch.Tensor, queue: torch.Tensor) -> torch.Tensor:
        return sce_loss(q, k, queue, self.temp, self.temp_m, self.coeff)

    def extra_repr(self) -> str:
        return f"temp={self.temp}, temp_m={self.temp_m}, coeff={self.coeff}"
