"""Optimisers (SGD, AdamW, LARS), registered by `optim.name`; biases and normalisation parameters get
no weight decay, and with LARS no trust-ratio adaptation either (as in the SCE / BYOL recipes)."""
from __future__ import annotations

from typing import Callable, Iterable, List, Optional

import torch
from torch import nn

from videosce.registry import Registry

OPTIMIZERS = Registry("optimizer")
register_optimizer = OPTIMIZERS.register


def param_groups(modules: Iterable[nn.Module], weight_decay: float) -> List[dict]:
    """Weights in one group; 1-D parameters (biases, norm scales/shifts) in an excluded group."""
    decay, excluded = [], []
    for module in modules:
        for param in module.parameters():
            if param.requires_grad:
                (excluded if param.ndim <= 1 else decay).append(param)
    return [
        {"params": decay, "weight_decay": weight_decay, "lars_exclude": False},
        {"params": excluded, "weight_decay": 0.0, "lars_exclude": True},
    ]


class LARS(torch.optim.Optimizer):
    """SGD with momentum whose update is scaled per tensor by eta * ||w|| / ||g + wd * w|| (You et al., 2017)."""

    def __init__(self, params, lr: float, momentum: float = 0.9, weight_decay: float = 0.0, trust_coefficient: float = 0.001, eps: float = 1e-8) -> None:
        defaults = dict(lr=lr, momentum=momentum, weight_decay=weight_decay, trust_coefficient=trust_coefficient, eps=eps, lars_exclude=False)
        super().__init__(params, defaults)

    @torch.no_grad()
    def step(self, closure: Optional[Callable[[], float]] = None) -> Optional[float]:
        loss = None
        if closure is not None:
            with torch.enable_grad():
                loss = closure()
        for group in self.param_groups:
            for param in group["params"]:
                if param.grad is None:
                    continue
                update = param.grad
                if not group["lars_exclude"]:
                    if group["weight_decay"]:
                        update = update.add(param, alpha=group["weight_decay"])
                    param_norm, update_norm = torch.linalg.vector_norm(param), torch.linalg.vector_norm(update)
                    trust = group["trust_coefficient"] * param_norm / (update_norm + group["eps"])
                    update = update * torch.where((param_norm > 0) & (update_norm > 0), trust, torch.ones_like(trust))
                state = self.state[param]
                if "momentum_buffer" not in state:
                    state["momentum_buffer"] = torch.clone(update).detach()
                else:
                    state["momentum_buffer"].mul_(group["momentum"]).add_(update)
                param.add_(state["momentum_buffer"], alpha=-group["lr"])
        return loss


@register_optimizer("sgd")
def sgd(groups: List[dict], optim_cfg) -> torch.optim.Optimizer:
    return torch.optim.SGD(groups, lr=optim_cfg.lr, momentum=optim_cfg.momentum)


@register_optimizer("adamw")
def adamw(groups: List[dict], optim_cfg) -> torch.optim.Optimizer:
    return torch.optim.AdamW(groups, lr=optim_cfg.lr)


@register_optimizer("lars")
def lars(groups: List[dict], optim_cfg) -> torch.optim.Optimizer:
    return LARS(groups, lr=optim_cfg.lr, momentum=optim_cfg.momentum, trust_coefficient=optim_cfg.trust_coefficient)


def build_optimizer(model: nn.Module, optim_cfg) -> torch.optim.Optimizer:
    """`optim.name`'s optimizer over `model`'s parameters (weight decay per `param_groups`)."""
    return OPTIMIZERS.create(optim_cfg.name, groups=param_groups([model], optim_cfg.weight_decay), optim_cfg=optim_cfg)
