"""Backbone registry (timm-style) and heads."""
from __future__ import annotations

from pathlib import Path
from typing import Any, Dict, List, Mapping, Union

import torch

from videosce.engine.checkpoint import load_checkpoint

from .backbones import BACKBONES, PublishedFlops, VideoBackbone, register_backbone


def create_backbone(name: str, **kwargs: Any) -> VideoBackbone:
    return BACKBONES.create(name, **kwargs)


def build_backbone(name: str, *, channels_last: bool = False, compile: bool = False, **kwargs: Any) -> VideoBackbone:
    """`create_backbone` plus the run-time options a training run picks (model.channels_last, model.compile).

    channels_last: parameters in the channels_last_3d (NDHWC) memory format, and `forward` converts
      its input clips to it, so the convolutions run without layout conversions.
    compile: `torch.compile` in place, so the type, attributes and state_dict keys stay;
      `forward` is compiled, `forward_features` runs eagerly.
    SyncBatchNorm is the Trainer's (trainer.sync_bn): it converts the model it trains, when distributed.
    """
    backbone = create_backbone(name, **kwargs)
    if channels_last:
        backbone = backbone.to(memory_format=torch.channels_last_3d)
        backbone.memory_format = torch.channels_last_3d
    if compile:
        backbone.compile()
    return backbone


def list_backbones(pattern: str = "*") -> List[str]:
    return BACKBONES.list(pattern)


def backbone_info(name: str) -> Dict[str, Any]:
    """The entry's default config: canonical clip, smallest clip, published FLOPs (`flops_ref`)."""
    return BACKBONES.info(name)


def backbone_state_dict(source: Union[str, Path, Mapping[str, torch.Tensor]]) -> Dict[str, torch.Tensor]:
    """Backbone weights from a videosce checkpoint (a run's full state `model`, or its exported
    backbone `state_dict`), a pytorchvideo/PySlowFast checkpoint (`model_state`) or a plain state_dict."""
    state = load_checkpoint(source) if isinstance(source, (str, Path)) else source
    for key in ("model", "state_dict", "model_state"):
        if key in state and isinstance(state[key], Mapping):
            state = state[key]
    prefix = "backbone."
    if any(k.startswith(prefix) for k in state):
        state = {k[len(prefix):]: v for k, v in state.items() if k.startswith(prefix)}
    return dict(state)


def load_backbone_weights(backbone: VideoBackbone, source: Union[str, Path, Mapping[str, torch.Tensor]]) -> VideoBackbone:
    """Load with strict=True: a checkpoint of another architecture fails loudly, naming the keys.

    A full reference model's state_dict (torchvision `r3d_18`/`s3d`/..., pytorchvideo `slow_r50`,
    `x3d_m`, ...) loads as it is: its classifier keys (`backbone.reference_head_keys`) are dropped,
    every other key must match. The reverse needs no mapping: `backbone.state_dict()` loads with
    strict=True into the reference model whose classifier is removed.
    """
    state = {k: v for k, v in backbone_state_dict(source).items() if not k.startswith(backbone.reference_head_keys)}
    backbone.load_state_dict(state, strict=True)
    return backbone


__all__ = [
    "BACKBONES",
    "PublishedFlops",
    "VideoBackbone",
    "backbone_info",
    "backbone_state_dict",
    "build_backbone",
    "create_backbone",
    "list_backbones",
    "load_backbone_weights",
    "register_backbone",
]
