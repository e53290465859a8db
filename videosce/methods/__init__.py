"""Self-supervised methods, built by name from `method.name`; auxiliary terms, built from their config."""
from __future__ import annotations

from torch import nn

from videosce.models import build_backbone

from . import auxiliary, byol, densecl, moco, ressl, scfs, sce, simclr, vclr  # noqa: F401  (register their entries)
from .base import METHODS, register_method
from .momentum import MomentumMethod
from .terms import TERMS, TermInputs, register_term


def build_method(model_cfg, method_cfg, *, seed: int = 0) -> nn.Module:
    """The method named by `method_cfg.name` around a fresh `model_cfg.backbone`; `seed` (the run's)
    seeds the method's own random draws."""
    backbone = build_backbone(model_cfg.backbone, channels_last=model_cfg.channels_last, compile=model_cfg.compile)
    return METHODS.create(method_cfg.name, backbone=backbone, model_cfg=model_cfg, method_cfg=method_cfg, seed=seed)


__all__ = ["METHODS", "TERMS", "MomentumMethod", "TermInputs", "build_method", "register_method", "register_term"]
