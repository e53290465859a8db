"""SCE: online encoder + predictor against a momentum target and a queue of its keys."""
from __future__ import annotations

import copy
from typing import Dict, Optional, Sequence

import torch
from torch import nn

from videosce.losses import sce_loss
from videosce.models import VideoBackbone
from videosce.models.heads import predictor, projector
from videosce.models.momentum import KeyQueue, cosine_momentum, ema_update
from videosce.utils.dist import concat_all_gather

from .base import register_method


class SCE(nn.Module):
    """q = predictor(projector(backbone(a))), k = projector_t(backbone_t(b)), loss = sce(q, k, queue).

    `forward(views)` returns the loss (symmetric over the first two views when `sym`) and
    enqueues the keys of those views, gathered from all ranks; `after_optimizer_step` moves the
    target by EMA with the cosine momentum schedule.
    """

    def __init__(
        self,
        backbone: VideoBackbone,
        proj_hidden_dim: int,
        proj_dim: int,
        pred_hidden_dim: int,
        queue_size: int,
        coeff: float = 0.5,
        temp: float = 0.1,
        temp_m: float = 0.05,
        momentum: float = 0.99,
        sym: bool = True,
    ) -> None:
        super().__init__()
        self.backbone = backbone
        self.projector = projector(backbone.num_features, proj_hidden_dim, proj_dim)
        self.predictor = predictor(proj_dim, pred_hidden_dim)
        self.target_backbone = copy.deepcopy(backbone).requires_grad_(False)
        self.target_projector = copy.deepcopy(self.projector).requires_grad_(False)
        self.queue = KeyQueue(queue_size, proj_dim)
        self.coeff, self.temp, self.temp_m = coeff, temp, temp_m
        self.base_momentum, self.sym = momentum, sym

    def forward(self, views: Sequence[torch.Tensor], labels: Optional[torch.Tensor] = None) -> Dict[str, torch.Tensor]:
        """views: clips (B,3,T,H,W) of the same videos; labels are unused (self-supervised)."""
        if len(views) < 2:
            raise ValueError(f"SCE needs at least 2 views per video, got {len(views)}")
        a, b = views[0], views[1]
        q_a = self.predictor(self.projector(self.backbone(a)))
        with torch.no_grad():
            k_b = self.target_projector(self.target_backbone(b))
        loss = sce_loss(q_a, k_b, self.queue.keys, self.temp, self.temp_m, self.coeff)
        keys = [k_b]
        if self.sym:
            q_b = self.predictor(self.projector(self.backbone(b)))
            with torch.no_grad():
                k_a = self.target_projector(self.target_backbone(a))
            loss = (loss + sce_loss(q_b, k_a, self.queue.keys, self.temp, self.temp_m, self.coeff)) / 2
            keys.append(k_a)
        self.queue.enqueue(nn.functional.normalize(concat_all_gather(torch.cat(keys)), dim=1))
        return {"loss": loss}

    @torch.no_grad()
    def after_optimizer_step(self, step: int, max_steps: int) -> Dict[str, float]:
        momentum = cosine_momentum(step, max_steps, self.base_momentum)
        ema_update(self.target_backbone, self.backbone, momentum)
        ema_update(self.target_projector, self.projector, momentum)
        return {"momentum": momentum}


@register_method("sce")
def build_sce(backbone: VideoBackbone, model_cfg, method_cfg) -> SCE:
    return SCE(
        backbone,
        proj_hidden_dim=model_cfg.proj_hidden_dim,
        proj_dim=model_cfg.proj_dim,
        pred_hidden_dim=model_cfg.pred_hidden_dim,
        queue_size=method_cfg.queue_size,
        coeff=method_cfg.coeff,
        temp=method_cfg.temp,
        temp_m=method_cfg.temp_m,
        momentum=method_cfg.momentum,
        sym=method_cfg.sym,
    )
