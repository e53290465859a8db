"""SimCLR's NT-Xent (Chen et al., 2020) with negatives gathered from every rank."""
from __future__ import annotations

import torch
import torch.nn.functional as F

from videosce.utils.dist import gather_with_grad


def nt_xent_loss(z_a: torch.Tensor, z_b: torch.Tensor, temp: float = 0.1, rank: int = 0, world_size: int = 1) -> torch.Tensor:
    """Mean cross-entropy over the 2B local anchors; candidates are all 2N embeddings of all ranks but self.

    z_a, z_b (B,D) are the two views of this rank's B videos; the positive of a_i is b_i. With
    world_size > 1 the gathered embeddings keep their gradient, so N-rank training matches one
    process with the global batch.
    """
    z_a, z_b = F.normalize(z_a.float(), dim=1), F.normalize(z_b.float(), dim=1)
    all_a, all_b = (gather_with_grad(z_a), gather_with_grad(z_b)) if world_size > 1 else (z_a, z_b)
    batch, total = z_a.shape[0], all_a.shape[0]
    candidates = torch.cat([all_a, all_b])
    local = torch.arange(batch, device=z_a.device) + rank * batch
    logits_a = z_a @ candidates.t() / temp
    logits_b = z_b @ candidates.t() / temp
    logits_a[torch.arange(batch), local] = float("-inf")
    logits_b[torch.arange(batch), local + total] = float("-inf")
    return (F.cross_entropy(logits_a, local + total) + F.cross_entropy(logits_b, local)) / 2
