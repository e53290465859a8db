"""X3D-XS/S/M/L (Feichtenhofer 2020): pytorchvideo's `create_x3d` with its hub configs.

The trunk is stem, res2..res5 and conv5 (1x1x1 to 432 channels, BN, ReLU): the last feature map.
Dropped with the classifier: pool5, fc1 (the 2048-d `lin5`, applied after pooling), dropout 0.5
and fc2. State_dict keys are pytorchvideo's (`blocks.0`..`blocks.4`, conv5 as
`blocks.5.pool.pre_*`), so weights move both ways without a mapping.

FLOPs: the paper and PySlowFast count conv/fc multiply-adds and no BatchNorm (BN alone adds
~3.5% to an fvcore count here); fc1/fc2 act on the pooled vector (< 0.002 GFLOPs), so the
trunk's count is the published one.
"""
from __future__ import annotations

from collections import OrderedDict
from typing import Any

import torch
from pytorchvideo.layers.drop_path import drop_path
from pytorchvideo.models.x3d import ProjectedPool, create_x3d
from torch import nn

from .base import RESNET_STAGES, BlockNet, PublishedFlops, register_backbone

_ZOO = "PySlowFast MODEL_ZOO.md, X3D table"
_PAPER = "X3D paper, Table 4, per view"


class X3DConv5(nn.Module):
    """X3D's conv5; pytorchvideo keeps it in the head's ProjectedPool as `pool.pre_*`, so do we (same keys)."""

    def __init__(self, projected: ProjectedPool) -> None:
        super().__init__()
        self.pool = nn.Sequential(
            OrderedDict(pre_conv=projected.pre_conv, pre_norm=projected.pre_norm, pre_act=projected.pre_act)
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.pool(x)


class DropConnectSum(nn.Module):
    """Residual sum with X3D's drop-connect: in training a sample's residual branch is dropped
    with probability `p` (kept ones scaled by 1/(1-p)), as PySlowFast's `MODEL.DROPCONNECT_RATE`."""

    def __init__(self, p: float) -> None:
        super().__init__()
        self.p = p

    def forward(self, shortcut: torch.Tensor, branch: torch.Tensor) -> torch.Tensor:
        return shortcut + drop_path(branch, self.p, self.training)


def _x3d(frames: int, size: int, depth_factor: float, drop_connect_rate: float, **kwargs: Any) -> BlockNet:
    """`drop_connect_rate` grows linearly over res2..res5 (rate * (i+2)/5), as in PySlowFast's X3D; 0 = off."""
    net = create_x3d(input_clip_length=frames, input_crop_size=size, depth_factor=depth_factor, **kwargs)
    stem, *stages, head = net.blocks
    for i, stage in enumerate(stages):
        for block in stage.res_blocks:
            block.branch_fusion = DropConnectSum(drop_connect_rate * (i + 2) / (len(stages) + 1))
    conv5 = X3DConv5(head.pool)
    return BlockNet(
        nn.ModuleList([stem, *stages, conv5]),
        head.pool.pre_conv.out_channels,
        ("blocks.5.pool.post_conv.", "blocks.5.proj."),
        stage_names=(*RESNET_STAGES, "conv5"),
    )


@register_backbone(
    "x3d_xs",
    frames=4,
    size=160,
    flops_ref=(PublishedFlops(0.60, 4, 160, _ZOO), PublishedFlops(0.6, 4, 160, _PAPER)),
)
def x3d_xs(drop_connect_rate: float = 0.0, **kwargs: Any) -> BlockNet:
    """X3D-XS, pytorchvideo hub `x3d_xs`: X3D-S's network, fed 4x160^2 clips."""
    return _x3d(4, 160, 2.2, drop_connect_rate, **kwargs)


@register_backbone(
    "x3d_s",
    frames=13,
    size=160,
    flops_ref=(PublishedFlops(1.96, 13, 160, _ZOO), PublishedFlops(2.0, 13, 160, _PAPER)),
)
def x3d_s(drop_connect_rate: float = 0.0, **kwargs: Any) -> BlockNet:
    """X3D-S, pytorchvideo hub `x3d_s` (13x160^2, depth factor 2.2)."""
    return _x3d(13, 160, 2.2, drop_connect_rate, **kwargs)


# The paper's M and L figures are at their 3-crop test crops (256, 356: PySlowFast configs
# X3D_M/L.yaml TEST_CROP_SIZE); the model zoo's at the training crops.
@register_backbone(
    "x3d_m",
    frames=16,
    size=224,
    flops_ref=(PublishedFlops(4.73, 16, 224, _ZOO), PublishedFlops(6.2, 16, 256, _PAPER)),
)
def x3d_m(drop_connect_rate: float = 0.0, **kwargs: Any) -> BlockNet:
    """X3D-M, pytorchvideo hub `x3d_m` (16x224^2, depth factor 2.2)."""
    return _x3d(16, 224, 2.2, drop_connect_rate, **kwargs)


@register_backbone(
    "x3d_l",
    frames=16,
    size=312,
    flops_ref=(PublishedFlops(18.37, 16, 312, _ZOO), PublishedFlops(24.8, 16, 356, _PAPER)),
)
def x3d_l(drop_connect_rate: float = 0.0, **kwargs: Any) -> BlockNet:
    """X3D-L, pytorchvideo hub `x3d_l` (16x312^2, depth factor 5.0)."""
    return _x3d(16, 312, 5.0, drop_connect_rate, **kwargs)
