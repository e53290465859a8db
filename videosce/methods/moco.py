"""MoCo v2/v3-style InfoNCE against a queue of momentum keys (He et al., 2020; Chen et al., 2020/2021):
the SCE loss at lambda = 1 (`method.coeff` is ignored)."""
from __future__ import annotations

from videosce.models import VideoBackbone

from .base import register_method
from .momentum import MomentumMethod, build_sce_family


@register_method("moco")
def build_moco(backbone: VideoBackbone, model_cfg, method_cfg, seed: int) -> MomentumMethod:
    return build_sce_family(backbone, model_cfg, method_cfg, 1.0, seed)
