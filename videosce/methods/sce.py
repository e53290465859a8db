"""SCE (Denize et al., 2023): lambda * InfoNCE + (1 - lambda) * the relational cross-entropy, with a
momentum target and a queue of negatives; lambda = `method.coeff`."""
from __future__ import annotations

from videosce.models import VideoBackbone

from .base import register_method
from .momentum import MomentumMethod, build_sce_family


@register_method("sce")
def build_sce(backbone: VideoBackbone, model_cfg, method_cfg, seed: int) -> MomentumMethod:
    return build_sce_family(backbone, model_cfg, method_cfg, method_cfg.coeff, seed)
