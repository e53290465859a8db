"""The one backbone contract: (B,3,T,H,W) floats -> (B,D) pooled features, the last feature map,
and the outputs of named stages.

Stage names follow the ResNet convention: `stem`, the four stages `res2`..`res5` (res3, res4 and res5
each halve the spatial size; res2's stride depends on the stem), then any later step of the trunk
(X3D's `conv5`); the last name's output is the last feature map. Region-level objectives (SCFS,
DenseCL) read them.
"""
from __future__ import annotations

from typing import Any, Callable, Dict, NamedTuple, Sequence, Tuple

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
    """Subclasses implement `stages` (the trunk as named steps; a backbone without stage maps may
    implement `forward_features` alone) and set `num_features`.

    Pooling is global and adaptive, so any T/H/W the strides allow works (tiny test clips too).
    State_dict keys are those of the reference definition (torchvision / pytorchvideo) minus its
    classifier, whose key prefixes `reference_head_keys` lists: `load_backbone_weights` drops
    them, so a reference model's state_dict imports as it is.
    """

    num_features: int
    reference_head_keys: Tuple[str, ...] = ()
    memory_format: torch.memory_format = torch.contiguous_format  # of the input clips `forward` passes on (build_backbone)

    def stages(self) -> Sequence[Tuple[str, nn.Module]]:
        """The trunk as (name, module) steps; running them in order is `forward_features`."""
        raise NotImplementedError(f"{type(self).__name__} names no stages")

    @property
    def stage_names(self) -> Tuple[str, ...]:
        return tuple(name for name, _ in self.stages())

    def forward_features(self, x: torch.Tensor) -> torch.Tensor:
        """(B,3,T,H,W) -> last feature map (B,num_features,T',H',W')."""
        for _, stage in self.stages():
            x = stage(x)
        return x

    def forward_stages(self, x: torch.Tensor, names: Sequence[str]) -> Dict[str, torch.Tensor]:
        """(B,3,T,H,W) -> {name: that stage's output (B,C,T',H',W')} for `names`; the trunk runs only
        as deep as the deepest one asked for."""
        known = self.stage_names
        unknown = [n for n in names if n not in known]
        if unknown:
            raise ValueError(f"unknown stage '{unknown[0]}' of {type(self).__name__}; choose from {', '.join(known)}")
        wanted, outputs = set(names), {}
        for name, stage in self.stages():
            x = stage(x)
            if name in wanted:
                outputs[name] = x
                if len(outputs) == len(wanted):
                    break
        return {name: outputs[name] for name in names}

    @torch.no_grad()
    def stage_channels(self, names: Sequence[str], clip: Tuple[int, int] = (8, 64)) -> Dict[str, int]:
        """{name: channels of that stage's output}, read from one eval-mode pass over a zero clip of
        `clip` = (frames, size) (large enough for every registered entry); the mode is restored."""
        training = self.training
        self.eval()
        try:
            first = next(self.parameters())
            probe = torch.zeros(1, 3, clip[0], clip[1], clip[1], device=first.device, dtype=first.dtype)
            return {name: out.shape[1] for name, out in self.forward_stages(probe, names).items()}
        finally:
            self.train(training)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.forward_features(x.contiguous(memory_format=self.memory_format)).mean(dim=(2, 3, 4))


RESNET_STAGES = ("stem", "res2", "res3", "res4", "res5")


class BlockNet(VideoBackbone):
    """A pytorchvideo `Net` without its head: `blocks` run in order, keys stay `blocks.N.*`;
    block i is the stage `stage_names[i]`."""

    def __init__(
        self, blocks: nn.ModuleList, num_features: int, reference_head_keys: Tuple[str, ...], stage_names: Sequence[str] = RESNET_STAGES
    ) -> None:
        super().__init__()
        if len(stage_names) != len(blocks):
            raise ValueError(f"{len(blocks)} blocks need as many stage names, got {tuple(stage_names)}")
        self.blocks = blocks
        self.num_features = num_features
        self.reference_head_keys = reference_head_keys
        self.block_names = tuple(stage_names)

    def stages(self) -> Sequence[Tuple[str, nn.Module]]:
        return list(zip(self.block_names, self.blocks))
