"""ResNet-style 3D backbones: torchvision's video ResNets (18/34), pytorchvideo's ResNets (50) and
the SCE paper's slow-pathway ResNet3D-18 built from pytorchvideo's parts.

The 18/34 entries keep torchvision's module names (`stem`, `layer1`..`layer4`), so a state_dict
moves between our backbone and `torchvision.models.video.*` minus `fc`. The 50 entries and
`r3d_18_slow` keep pytorchvideo's (`blocks.0`..`blocks.4`), so they move to and from a
pytorchvideo `Net` minus its head (`blocks.5`). No key mapping is needed either way.

None of these trunks has dropout or stochastic depth: torchvision's video ResNets define none,
and pytorchvideo's only dropout sits in the head we drop (put it in the head that replaces it).
"""
from __future__ import annotations

import operator
from typing import Any, Callable, Sequence, Tuple, Type

import torch
from pytorchvideo.models import create_resnet
from pytorchvideo.models.r2plus1d import create_r2plus1d
from pytorchvideo.models.resnet import ResBlock, ResStage
from pytorchvideo.models.stem import create_res_basic_stem
from pytorchvideo.models.weight_init import init_net_weights
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


class BasicBranch(nn.Module):
    """The residual branch of a basic block: conv_a, norm_a, act_a, conv_b, norm_b.

    pytorchvideo 0.1.5 has bottleneck blocks only; this is the two-convolution branch with the
    attribute names of its BottleneckBlock, the names the SCE reference's ResNet3D-18 uses, so
    the state_dict keys (`branch2.conv_a.weight`, ...) match that implementation's.
    """

    def __init__(self, conv_a: nn.Module, norm_a: nn.Module, act_a: nn.Module, conv_b: nn.Module, norm_b: nn.Module) -> None:
        super().__init__()
        self.conv_a, self.norm_a, self.act_a, self.conv_b, self.norm_b = conv_a, norm_a, act_a, conv_b, norm_b
        self.norm_b.block_final_bn = True  # pytorchvideo's init zeroes the last norm of a residual branch

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.norm_b(self.conv_b(self.act_a(self.norm_a(self.conv_a(x)))))


def create_basic_stage(
    *, dim_in: int, dim_out: int, depth: int, temporal_kernel: int, spatial_stride: int, norm: Callable[..., nn.Module]
) -> ResStage:
    """`depth` pytorchvideo ResBlocks around a `BasicBranch`: conv_a (temporal_kernel x 3 x 3) carries the
    stage's spatial stride, conv_b is 1x3x3; a 1x1x1 projection shortcut where the shape changes."""
    blocks = []
    for i in range(depth):
        cin, stride = (dim_in, (1, spatial_stride, spatial_stride)) if i == 0 else (dim_out, (1, 1, 1))
        project = cin != dim_out or stride != (1, 1, 1)
        branch = BasicBranch(
            conv_a=nn.Conv3d(cin, dim_out, (temporal_kernel, 3, 3), stride=stride, padding=(temporal_kernel // 2, 1, 1), bias=False),
            norm_a=norm(num_features=dim_out),
            act_a=nn.ReLU(),
            conv_b=nn.Conv3d(dim_out, dim_out, (1, 3, 3), padding=(0, 1, 1), bias=False),
            norm_b=norm(num_features=dim_out),
        )
        blocks.append(ResBlock(
            branch1_conv=nn.Conv3d(cin, dim_out, 1, stride=stride, bias=False) if project else None,
            branch1_norm=norm(num_features=dim_out) if project else None,
            branch2=branch,
            activation=nn.ReLU(),
            branch_fusion=operator.add,
        ))
    return ResStage(nn.ModuleList(blocks))


@register_backbone("r3d_18_slow", frames=8, size=224)
def r3d_18_slow(*, norm: Callable[..., nn.Module] = nn.BatchNorm3d) -> BlockNet:
    """SCE's ResNet3D-18 (the authors' `create_resnet3d_basic`, depth 18): the Slow pathway's design
    with basic blocks. Stem 1x7x7 conv (stride 1,2,2) + 1x3x3 max-pool; stages res2..res5 of 2 blocks,
    64..512 channels, conv_a temporal kernel 1 in res2/res3 and 3 in res4/res5, conv_b always 1x3x3,
    spatial stride 2 from res3 on and no temporal stride anywhere (T frames in, T out).

    Unlike torchvision's `r3d_18` (3x7x7 stem, 3x3x3 convs, temporal strides), which stays registered
    as it is. The canonical clip is the reference K400 recipe's 8 x 224^2 (a 7x7 map before pooling).
    Keys follow pytorchvideo's layout (`blocks.0.conv`, `blocks.N.res_blocks.M.branch2.conv_a`, ...);
    initialised with pytorchvideo's ResNet init (the last norm of each branch at 0). `norm` is injectable.
    """
    stem = create_res_basic_stem(
        in_channels=3, out_channels=64, conv_kernel_size=(1, 7, 7), conv_stride=(1, 2, 2), conv_padding=(0, 3, 3),
        pool=nn.MaxPool3d, pool_kernel_size=(1, 3, 3), pool_stride=(1, 2, 2), pool_padding=(0, 1, 1), norm=norm,
    )
    stages, dim_in = [], 64
    for dim_out, temporal_kernel, spatial_stride in ((64, 1, 1), (128, 1, 2), (256, 3, 2), (512, 3, 2)):
        stages.append(create_basic_stage(dim_in=dim_in, dim_out=dim_out, depth=2, temporal_kernel=temporal_kernel,
                                         spatial_stride=spatial_stride, norm=norm))
        dim_in = dim_out
    net = BlockNet(nn.ModuleList([stem, *stages]), 512, ("blocks.5.",))
    init_net_weights(net, style="resnet")
    return net


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
