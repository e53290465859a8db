"""Self-supervised methods, built by name from `method.name`."""
from __future__ import annotations

from torch import nn

from videosce.models import build_backbone

from . import byol, sce, simclr  # noqa: F401  (register their entries)
from .base import METHODS, register_method
from .momentum import MomentumMethod


def build_method(cfg) -> nn.Module:
    """The method named by `cfg.method.name` around a fresh `cfg.model.backbone`."""
    backbone = build_backbone(cfg.model.backbone, channels_last=cfg.model.channels_last, compile=cfg.model.compile)
    return METHODS.create(cfg.method.name, backbone=backbone, model_cfg=cfg.model, method_cfg=cfg.method)


__all__ = ["METHODS", "MomentumMethod", "build_method", "register_method"]
