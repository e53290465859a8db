"""BYOL's regression loss (Grill et al., 2020)."""
from __future__ import annotations

import torch
import torch.nn.functional as F


def byol_loss(p: torch.Tensor, z: torch.Tensor) -> torch.Tensor:
    """2 - 2 cos(p, z) averaged over the batch; p online predictions (B,D), z target projections (B,D)."""
    return (2.0 - 2.0 * (F.normalize(p.float(), dim=1) * F.normalize(z.float(), dim=1)).sum(dim=1)).mean()
