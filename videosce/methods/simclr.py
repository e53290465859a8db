"""SimCLR (Chen et al., 2020): in-batch NT-Xent over both views, negatives gathered across ranks."""
from __future__ import annotations

from typing import Dict, Optional, Sequence

import torch
from torch import nn

from videosce.losses import nt_xent_loss
from videosce.models import VideoBackbone
from videosce.models.heads import projector
from videosce.utils.dist import get_rank, get_world_size

from .base import register_method


class SimCLR(nn.Module):
    def __init__(self, backbone: VideoBackbone, projector: nn.Module, temp: float = 0.1) -> None:
        super().__init__()
        self.backbone, self.projector, self.temp = backbone, projector, temp

    def forward(self, views: Sequence[torch.Tensor], labels: Optional[torch.Tensor] = None) -> Dict[str, torch.Tensor]:
        z_a, z_b = (self.projector(self.backbone(v)) for v in views[:2])
        return {"loss": nt_xent_loss(z_a, z_b, self.temp, rank=get_rank(), world_size=get_world_size())}


@register_method("simclr")
def build_simclr(backbone: VideoBackbone, model_cfg, method_cfg, seed: int) -> SimCLR:
    """SimCLR draws nothing at random, so `seed` is not needed."""
    return SimCLR(backbone, projector(backbone.num_features, model_cfg.proj_hidden_dim, model_cfg.proj_dim), method_cfg.temp)
