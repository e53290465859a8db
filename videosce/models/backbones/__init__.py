from . import resnet3d  # noqa: F401  (registers its entries)
from .base import BACKBONES, VideoBackbone, register_backbone

__all__ = ["BACKBONES", "VideoBackbone", "register_backbone"]
