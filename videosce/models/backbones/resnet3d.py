"""ResNet-style 3D backbones: torchvision's video ResNets (18/34) and pytorchvideo's ResNets (50).

The 18/34 entries keep torchvision's module names (`stem`, `layer1`..`layer4`), so a state_dict
moves between our backbone and `torchvision.models.video.*` minus `fc`. The 50 entries keep
pytorchvideo's (`blocks.0`..`blocks.4`), so they move to and from pytorchvideo's `Net` minus its
head (`blocks.5`). No key mapping is needed either way.

None of these trunks has dropout or stochastic depth: torchvision's video ResNets define none,
and pytorchvideo's only dropout sits in the head we drop (put it in the head that replaces it).
"""
from __future__ import annotations

from typing import Any, Sequence, Tuple, Type

import torch
from pytorchvideo.models import create_resnet
from pytorchvideo.models.r2plus1d import create_r2plus1d
from torch import nn
from torchvision.models.video import r2plus1d_18 as tv_r2plus1d_18
from torchvision.models.video import r3d_18 as tv_r3d_18
from torchvision.models.video.resnet import BasicBlock, BasicStem, Conv2Plus1D, Conv3DSimple, R2Plus1dStem, VideoResNet

from .base import BlockNet, PublishedFlops, VideoBackbone, register_backbone


class ResNet3D(VideoBackbone):
    """torchvision's VideoResNet trunk: the same modules, without `avgpool` and `fc`."""

    reference_head_keys = ("fc.",)

    def __init__(self, stem: nn.Module, layers: Sequence[nn.Module], num_features: int) -> None:
        super().__init__()
        self.stem = stem
        self.layer1, self.layer2, self.layer3, self.layer4 = layers
        self.num_features = num_features

    @classmethod
    def from_torchvision(cls, net: VideoResNet) -> "ResNet3D":
        return cls(net.stem, [net.layer1, net.layer2, net.layer3, net.layer4], net.fc.in_features)

    def stages(self) -> Sequence[Tuple[str, nn.Module]]:
        """stem, then layer1..layer4 as res2..res5."""
        return [("stem", self.stem), ("res2", self.layer1), ("res3", self.layer2), ("res4", self.layer3), ("res5", self.layer4)]


def _stage(in_planes: int, planes: int, blocks: int, stride: int, conv: Type[nn.Module]) -> nn.Sequential:
    """torchvision's VideoResNet._make_layer for BasicBlock, with free widths."""
    downsample = None
    if stride != 1 or in_planes != planes:
        ds_stride = conv.get_downsample_stride(stride)
        downsample = nn.Sequential(
            nn.Conv3d(in_planes, planes, kernel_size=1, stride=ds_stride, bias=False), nn.BatchNorm3d(planes)
        )
    layers = [BasicBlock(in_planes, planes, conv, stride, downsample)]
    layers += [BasicBlock(planes, planes, conv) for _ in range(blocks - 1)]
    return nn.Sequential(*layers)


def _tv_ops(weights: str, gflops: float) -> PublishedFlops:
    return PublishedFlops(gflops, 16, 112, f"torchvision {weights}.KINETICS400_V1.meta['_ops'] (docs GFLOPS column)")


@register_backbone("r3d_18", frames=16, size=112, flops_ref=(_tv_ops("R3D_18_Weights", 40.697),))
def r3d_18(**kwargs: Any) -> ResNet3D:
    """ResNet3D-18 (Tran et al. 2018), torchvision's `r3d_18` definition."""
    return ResNet3D.from_torchvision(tv_r3d_18(weights=None, **kwargs))


@register_backbone("r3d_34", frames=16, size=112)
def r3d_34(**kwargs: Any) -> ResNet3D:
    """ResNet3D-34 (Tran et al. 2018, stages [3,4,6,3] of 3x3x3 BasicBlocks).

    torchvision's VideoResNet with r3d_18's stem and blocks, so its state_dict is torchvision-shaped.
    """
    return ResNet3D.from_torchvision(VideoResNet(BasicBlock, [Conv3DSimple] * 4, [3, 4, 6, 3], BasicStem, **kwargs))


@register_backbone("r2plus1d_18", frames=16, size=112, flops_ref=(_tv_ops("R2Plus1D_18_Weights", 40.519),))
def r2plus1d_18(**kwargs: Any) -> ResNet3D:
    """R(2+1)D-18 (Tran et al. 2018), torchvision's `r2plus1d_18` definition."""
    return ResNet3D.from_torchvision(tv_r2plus1d_18(weights=None, **kwargs))


@register_backbone("r2plus1d_34", frames=16, size=112)
def r2plus1d_34(**kwargs: Any) -> ResNet3D:
    """R(2+1)D-34 (Tran et al. 2018, stages [3,4,6,3]; the IG-65M / VMZ R(2+1)D-34).

    torchvision's VideoResNet with r2plus1d_18's stem and (2+1)D blocks (mid-channels chosen to
    match the 3D conv's parameters, as in the paper), so its state_dict is torchvision-shaped.
    """
    return ResNet3D.from_torchvision(VideoResNet(BasicBlock, [Conv2Plus1D] * 4, [3, 4, 6, 3], R2Plus1dStem, **kwargs))


def _trunk(net: nn.Module, num_features: int) -> BlockNet:
    """A pytorchvideo ResNet without its head block (pooling, dropout, `proj`)."""
    *blocks, _head = net.blocks
    return BlockNet(nn.ModuleList(blocks), num_features, (f"blocks.{len(blocks)}.",))


_PTV_ZOO = "pytorchvideo model zoo, Kinetics-400 table (counted at its 256 test crop)"


@register_backbone("r3d_50", frames=8, size=224, flops_ref=(PublishedFlops(54.52, 8, 256, f"Slow R50 8x8: {_PTV_ZOO}"),))
def r3d_50(**kwargs: Any) -> BlockNet:
    """SCE's ResNet3D-50: pytorchvideo `create_resnet`, depth 50, stem kernel (1,7,7).

    That is pytorchvideo's hub `slow_r50` (Slow-R50, Feichtenhofer et al. 2019) minus its head;
    the head's dropout (0.5) goes with it. `kwargs` reach `create_resnet` (e.g. `norm=`).
    """
    return _trunk(create_resnet(model_depth=50, stem_conv_kernel_size=(1, 7, 7), **kwargs), 2048)


@register_backbone(
    "r2plus1d_50", frames=16, size=224, flops_ref=(PublishedFlops(76.45, 16, 256, f"R(2+1)D R50 16x4: {_PTV_ZOO}"),)
)
def r2plus1d_50(**kwargs: Any) -> BlockNet:
    """R(2+1)D-50: pytorchvideo's hub `r2plus1d_r50` (`create_r2plus1d` defaults) minus its head.

    The head's dropout (0.5) goes with it. `kwargs` reach `create_r2plus1d` (e.g. `norm=`).
    """
    return _trunk(create_r2plus1d(**kwargs), 2048)


@register_backbone("r3d_tiny", frames=8, size=56)
def r3d_tiny(width: int = 16) -> ResNet3D:
    """One R3D BasicBlock per stage at 1/4 of R3D-18's widths: the CPU demo backbone."""
    widths = [width, 2 * width, 4 * width, 8 * width]
    stem = nn.Sequential(
        nn.Conv3d(3, width, kernel_size=(3, 7, 7), stride=(1, 2, 2), padding=(1, 3, 3), bias=False),
        nn.BatchNorm3d(width),
        nn.ReLU(inplace=True),
    )
    stages, in_planes = [], width
    for i, planes in enumerate(widths):
        stages.append(_stage(in_planes, planes, 1, 1 if i == 0 else 2, Conv3DSimple))
        in_planes = planes
    net = ResNet3D(stem, stages, widths[-1])
    for m in net.modules():  # torchvision VideoResNet's initialisation
        if isinstance(m, nn.Conv3d):
            nn.init.kaiming_normal_(m.weight, mode="fan_out", nonlinearity="relu")
        elif isinstance(m, nn.BatchNorm3d):
            nn.init.ones_(m.weight)
            nn.init.zeros_(m.bias)
    return net
