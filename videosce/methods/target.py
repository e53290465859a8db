"""The EMA target of the momentum methods (MoCo, BYOL): frozen copies of the online backbone and
projector that follow the online weights with a momentum going from `momentum` to 1 (cosine); and
`features_and_maps`, the one backbone pass of either branch, with the stage maps the terms read."""
from __future__ import annotations

import copy
from typing import Dict, Sequence, Tuple

import torch
from torch import nn

from videosce.models.momentum import ema_update
from videosce.schedules import cosine_momentum

from .vclr import encode_clips, pool_segments


def features_and_maps(backbone: nn.Module, clips: torch.Tensor, stages: Sequence[str] = ()) -> Tuple[torch.Tensor, Dict[str, torch.Tensor]]:
    """(backbone features, {stage: map}) of clips (B,3,T,H,W) or video-level views (`encode_clips`).

    With `stages` (the last one the backbone's last stage), one `forward_stages` pass gives the maps
    and the features are its last map pooled, the same as `backbone(clips)` (but run eagerly:
    `model.compile` compiles `forward` only); without, no maps.
    """
    if not stages:
        return encode_clips(backbone, clips), {}
    maps = backbone.forward_stages(clips, stages)
    return maps[stages[-1]].mean(dim=(2, 3, 4)), maps


class EMATarget(nn.Module):
    """k = projector_t(backbone_t(clips)) without gradient; `update` moves the copies after each step."""

    def __init__(self, backbone: nn.Module, projector: nn.Module, momentum: float) -> None:
        super().__init__()
        self.backbone = copy.deepcopy(backbone).requires_grad_(False)
        self.projector = copy.deepcopy(projector).requires_grad_(False)
        self.base_momentum = momentum

    @torch.no_grad()
    def forward(self, clips: torch.Tensor) -> torch.Tensor:
        """Keys (B,K) of clips (B,3,T,H,W) or of video-level views (B,S,3,T,H,W)."""
        return self.keys_and_maps(clips)[0]

    @torch.no_grad()
    def keys_and_maps(self, clips: torch.Tensor, stages: Sequence[str] = ()) -> Tuple[torch.Tensor, Dict[str, torch.Tensor]]:
        """The keys and the target backbone's maps of `stages` ({} without; `features_and_maps`)."""
        features, maps = features_and_maps(self.backbone, clips, stages)
        return self.projector(pool_segments(features)), maps

    @torch.no_grad()
    def update(self, backbone: nn.Module, projector: nn.Module, step: int, max_steps: int) -> float:
        """EMA towards the online modules at the cosine momentum of `step`; returns that momentum."""
        momentum = cosine_momentum(step, max_steps, self.base_momentum)
        ema_update(self.backbone, backbone, momentum)
        ema_update(self.projector, projector, momentum)
        return momentum

    def extra_repr(self) -> str:
        return f"momentum={self.base_momentum}"
