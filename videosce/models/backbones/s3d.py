"""S3D (Xie et al. 2018), torchvision's definition, as used by CoCLR and other video SSL work."""
from __future__ import annotations

from typing import Any, Sequence, Tuple

from torch import nn
from torchvision.models.video import s3d as tv_s3d

from .base import PublishedFlops, VideoBackbone, register_backbone


class S3D(VideoBackbone):
    """torchvision's S3D `features` (keys `features.*`); its fixed (2,7,7) avgpool and classifier dropped.

    torchvision's only dropout (p=0.2) sits in that classifier, so the trunk has none: add it in
    the head that replaces the classifier.
    """

    reference_head_keys = ("classifier.",)

    def __init__(self, features: nn.Sequential) -> None:
        super().__init__()
        self.features = features
        self.num_features = 1024

    def stages(self) -> Sequence[Tuple[str, nn.Module]]:
        """Cut at the pools, by spatial stride: stem = conv1 + pool (4), res2 = conv2b/2c (4), res3 = pool
        + Mixed_3b/3c (8), res4 = pool + Mixed_4b..4f (16), res5 = pool + Mixed_5b/5c (32)."""
        f = self.features
        return [("stem", f[0:2]), ("res2", f[2:4]), ("res3", f[4:7]), ("res4", f[7:13]), ("res5", f[13:16])]


# Three temporal halvings (the last a kernel-2 pool without padding) need T >= 5; four spatial
# halvings before that pool need H, W >= 17.
@register_backbone(
    "s3d",
    frames=16,
    size=224,
    min_frames=5,
    min_size=17,
    flops_ref=(PublishedFlops(17.979, 16, 224, "torchvision S3D_Weights.KINETICS400_V1.meta['_ops'] (docs GFLOPS column)"),),
)
def s3d(**kwargs: Any) -> S3D:
    """S3D, torchvision's `s3d` definition; `kwargs` reach it (e.g. `norm_layer=`)."""
    return S3D(tv_s3d(weights=None, **kwargs).features)
