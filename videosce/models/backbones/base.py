"""The one backbone contract: (B,3,T,H,W) floats -> (B,D) pooled features."""
from __future__ import annotations

from typing import Any, Callable, NamedTuple, Tuple

import torch
from torch import nn

from videosce.registry import Registry

BACKBONES = Registry("backbone")


# The Kinetics pixel statistics every recipe here normalises clips with (pytorchvideo's and the SCE
# recipe's): an entry's default unless it registers its own; data.mean / data.std override it.
KINETICS_MEAN = (0.45, 0.45, 0.45)
KINETICS_STD = (0.225, 0.225, 0.225)


class PublishedFlops(NamedTuple):
    """A published GFLOPs figure (one multiply-add = one FLOP) and the 1x3xFxSxS input it was counted at."""

    gflops: float
    frames: int
    size: int
    source: str


def register_backbone(
    name: str,
    *,
    frames: int,
    size: int,
    min_frames: int = 1,
    min_size: int = 1,
    flops_ref: Tuple[PublishedFlops, ...] = (),
    mean: Tuple[float, float, float] = KINETICS_MEAN,
    std: Tuple[float, float, float] = KINETICS_STD,
    **info: Any,
) -> Callable[[Callable[..., Any]], Callable[..., Any]]:
    """Register a factory with its default config.

    `frames` x `size`^2 is the canonical clip; `min_frames` / `min_size` the smallest clip the
    strides accept (tests size their inputs from them); `flops_ref` the published GFLOPs the
    tests compare our count with; `mean` / `std` the per-channel normalisation of its input
    clips (in [0, 1]) when the config sets none; `info` any further metadata.
    """
    return BACKBONES.register(
        name, frames=frames, size=size, min_frames=min_frames, min_size=min_size, flops_ref=flops_ref, mean=mean, std=std, **info
    )


class VideoBackbone(nn.Module):
    """Subclasses implement `forward_features` (the last feature map) and set `num_features`.

    Pooling is global and adaptive, so any T/H/W the strides allow works (tiny test clips too).
    State_dict keys are those of the reference definition (torchvision / pytorchvideo) minus its
    classifier, whose key prefixes `reference_head_keys` lists: `load_backbone_weights` drops
    them, so a reference model's state_dict imports as it is.
    """

    num_features: int
    reference_head_keys: Tuple[str, ...] = ()
    memory_format: torch.memory_format = torch.contiguous_format  # of the input clips `forward` passes on (build_backbone)

    def forward_features(self, x: torch.Tensor) -> torch.Tensor:
        """(B,3,T,H,W) -> last feature map (B,num_features,T',H',W')."""
        raise NotImplementedError

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.forward_features(x.contiguous(memory_format=self.memory_format)).mean(dim=(2, 3, 4))


class BlockNet(VideoBackbone):
    """A pytorchvideo `Net` without its head: `blocks` run in order, keys stay `blocks.N.*`."""

    def __init__(self, blocks: nn.ModuleList, num_features: int, reference_head_keys: Tuple[str, ...]) -> None:
        super().__init__()
        self.blocks = blocks
        self.num_features = num_features
        self.reference_head_keys = reference_head_keys

    def forward_features(self, x: torch.Tensor) -> torch.Tensor:
        for block in self.blocks:
            x = block(x)
        return x
