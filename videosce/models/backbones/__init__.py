from . import resnet3d, s3d, x3d  # noqa: F401  (register their entries)
from .base import BACKBONES, BlockNet, PublishedFlops, VideoBackbone, register_backbone

__all__ = ["BACKBONES", "BlockNet", "PublishedFlops", "VideoBackbone", "register_backbone"]
