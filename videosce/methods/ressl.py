"""ReSSL-style relational learning (Zheng et al., 2021): the SCE loss at lambda = 0, i.e. the online
distribution over the queue matches the sharper target one (`method.coeff` is ignored)."""
from __future__ import annotations

from videosce.models import VideoBackbone

from .base import register_method
from .momentum import MomentumMethod, build_sce_family


@register_method("ressl")
def build_ressl(backbone: VideoBackbone, model_cfg, method_cfg, seed: int) -> MomentumMethod:
    return build_sce_family(backbone, model_cfg, method_cfg, 0.0, seed)
