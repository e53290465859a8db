"""ResNet-style 3D backbones built from torchvision's video ResNet definitions.

Module names match torchvision's (`stem`, `layer1`..`layer4`), so a state_dict moves between
our backbone and `torchvision.models.video.*` minus the classifier.
"""
from __future__ import annotations

from typing import Sequence, Type

import torch
from torch import nn
from torchvision.models.video import r2plus1d_18 as tv_r2plus1d_18
from torchvision.models.video import r3d_18 as tv_r3d_18
from torchvision.models.video.resnet import BasicBlock, Conv3DSimple, VideoResNet

from .base import VideoBackbone, register_backbone

class ResNet3D(VideoBackbone):
    def __init__(self, stem: nn.Module, layers: Sequence[nn.Module], num_features: int) -> None:
        super().__init__()
        self.stem = stem
        self.layer1, self.layer2, self.layer3, self.layer4 = layers
        self.num_features = num_features

    @classmethod
    def from_torchvision(cls, net: VideoResNet) -> "ResNet3D":
        return cls(net.stem, [net.layer1, net.layer2, net.layer3, net.layer4], net.fc.in_features)

    def forward_features(self, x: torch.Tensor) -> torch.Tensor:
        x = self.stem(x)
        return self.layer4(self.layer3(self.layer2(self.layer1(x))))


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


@register_backbone("r3d_18", frames=16, size=112)
def r3d_18(**kwargs) -> ResNet3D:
    """ResNet3D-18 (Tran et al. 2018), torchvision's definition."""
    return ResNet3D.from_torchvision(tv_r3d_18(weights=None, **kwargs))


@register_backbone("r2plus1d_18", frames=16, size=112)
def r2plus1d_18(**kwargs) -> ResNet3D:
    """R(2+1)D-18 (Tran et al. 2018), torchvision's definition."""
    return ResNet3D.from_torchvision(tv_r2plus1d_18(weights=None, **kwargs))


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
