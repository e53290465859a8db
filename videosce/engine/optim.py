"""Optimisers, with biases and normalisation parameters excluded from weight decay."""
from __future__ import annotations

from typing import Iterable, List

import torch
from torch import nn

OPTIMIZERS = ("sgd", "adamw")


def param_groups(modules: Iterable[nn.Module], weight_decay: float) -> List[dict]:
    decay, no_decay = [], []
    for module in modules:
        for param in module.parameters():
            if param.requires_grad:
                (no_decay if param.ndim <= 1 else decay).append(param)
    return [{"params": decay, "weight_decay": weight_decay}, {"params": no_decay, "weight_decay": 0.0}]


def build_optimizer(model: nn.Module, optim_cfg) -> torch.optim.Optimizer:
    groups = param_groups([model], optim_cfg.weight_decay)
    if optim_cfg.name == "sgd":
        return torch.optim.SGD(groups, lr=optim_cfg.lr, momentum=optim_cfg.momentum)
    if optim_cfg.name == "adamw":
        return torch.optim.AdamW(groups, lr=optim_cfg.lr)
    raise ValueError(f"bad value for config key 'optim.name': '{optim_cfg.name}', choose one of {', '.join(OPTIMIZERS)}")
