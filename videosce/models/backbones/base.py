"""The one backbone contract: (B,3,T,H,W) floats -> (B,D) pooled features."""
from __future__ import annotations

import torch
from torch import nn

from videosce.registry import Registry

BACKBONES = Registry("backbone")
register_backbone = BACKBONES.register


class VideoBackbone(nn.Module):
    """Subclasses implement `forward_features` (the last feature map) and set `num_features`.

    Pooling is global and adaptive, so any T/H/W the strides allow works (tiny test clips too).
    """

    num_features: int

    def forward_features(self, x: torch.Tensor) -> torch.Tensor:
        """(B,3,T,H,W) -> last feature map (B,num_features,T',H',W')."""
        raise NotImplementedError

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.forward_features(x).mean(dim=(2, 3, 4))
