"""BYOL (Grill et al., 2020): predict the EMA target's projection, no negatives."""
from __future__ import annotations

from videosce.losses import byol_loss
from videosce.models import VideoBackbone

from .base import register_method
from .momentum import MomentumMethod, build_momentum_method


@register_method("byol")
def build_byol(backbone: VideoBackbone, model_cfg, method_cfg, seed: int) -> MomentumMethod:
    return build_momentum_method(backbone, model_cfg, method_cfg, lambda q, k, negatives: byol_loss(q, k), queue=False, seed=seed)
