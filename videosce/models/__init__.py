"""Backbone registry (timm-style) and heads."""
from __future__ import annotations

from pathlib import Path
from typing import Any, Dict, List, Mapping, Union

import torch

from .backbones import BACKBONES, VideoBackbone, register_backbone


def create_backbone(name: str, **kwargs: Any) -> VideoBackbone:
    return BACKBONES.create(name, **kwargs)


def list_backbones(pattern: str = "*") -> List[str]:
    return BACKBONES.list(pattern)


def backbone_info(name: str) -> Dict[str, Any]:
    """The entry's default config: canonical clip length and crop size."""
    return BACKBONES.info(name)


def backbone_state_dict(source: Union[str, Path, Mapping[str, torch.Tensor]]) -> Dict[str, torch.Tensor]:
    """Backbone weights from a videosce checkpoint (pretrain or finetune) or a plain state_dict."""
    state = torch.load(source, map_location="cpu", weights_only=True) if isinstance(source, (str, Path)) else source
    if "model" in state and isinstance(state["model"], Mapping):
        state = state["model"]
    prefix = "backbone."
    if any(k.startswith(prefix) for k in state):
        state = {k[len(prefix):]: v for k, v in state.items() if k.startswith(prefix)}
    return dict(state)


def load_backbone_weights(backbone: VideoBackbone, source: Union[str, Path, Mapping[str, torch.Tensor]]) -> VideoBackbone:
    """Load with strict=True: a checkpoint of another architecture fails loudly, naming the keys."""
    backbone.load_state_dict(backbone_state_dict(source), strict=True)
    return backbone


__all__ = [
    "BACKBONES",
    "VideoBackbone",
    "backbone_info",
    "backbone_state_dict",
    "create_backbone",
    "list_backbones",
    "load_backbone_weights",
    "register_backbone",
]
