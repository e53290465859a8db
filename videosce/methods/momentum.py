"""The momentum-target family (SCE, MoCo, ReSSL, BYOL) as one composition.

online:  q = predictor(projector(backbone(view)))      (predictor optional)
target:  k = projector_t(backbone_t(view)), EMA copies, no gradient
loss:    loss_fn(q_a, k_b, queue) (+ the swapped pair when `sym`), then the keys of both views,
         gathered from every rank, enter the FIFO queue (methods without a queue pass None).
aux:     optional auxiliary objectives (`aux_terms`, name -> module called as term(method, views)
         returning a weighted scalar) are added to the loss and logged as `loss_<name>`.
"""
from __future__ import annotations

import copy
from typing import Callable, Dict, Mapping, Optional, Sequence

import torch
import torch.nn.functional as F
from torch import nn

from videosce.models import VideoBackbone
from videosce.models.momentum import KeyQueue, cosine_momentum, ema_update
from videosce.utils.dist import concat_all_gather

LossFn = Callable[[torch.Tensor, torch.Tensor, Optional[torch.Tensor]], torch.Tensor]


class MomentumMethod(nn.Module):
    def __init__(
        self,
        backbone: VideoBackbone,
        projector: nn.Module,
        predictor: Optional[nn.Module],
        loss_fn: LossFn,
        key_dim: int,
        queue_size: Optional[int],
        momentum: float = 0.99,
        sym: bool = True,
        aux_terms: Optional[Mapping[str, nn.Module]] = None,
    ) -> None:
        super().__init__()
        self.backbone, self.projector = backbone, projector
        self.predictor = predictor if predictor is not None else nn.Identity()
        self.target_backbone = copy.deepcopy(backbone).requires_grad_(False)
        self.target_projector = copy.deepcopy(projector).requires_grad_(False)
        self.queue = KeyQueue(queue_size, key_dim) if queue_size else None
        self.loss_fn, self.base_momentum, self.sym = loss_fn, momentum, sym
        self.aux_terms = nn.ModuleDict(aux_terms or {})

    def online(self, clips: torch.Tensor) -> torch.Tensor:
        return self.predictor(self.projector(self.backbone(clips)))

    @torch.no_grad()
    def target(self, clips: torch.Tensor) -> torch.Tensor:
        return self.target_projector(self.target_backbone(clips))

    def forward(self, views: Sequence[torch.Tensor], labels: Optional[torch.Tensor] = None) -> Dict[str, torch.Tensor]:
        """views: clips (B,3,T,H,W) of the same videos; labels are unused (self-supervised)."""
        if len(views) < 2:
            raise ValueError(f"{type(self).__name__} needs at least 2 views per video, got {len(views)}")
        a, b = views[0], views[1]
        queue = self.queue.keys.clone() if self.queue is not None else None
        k_b = self.target(b)
        loss = self.loss_fn(self.online(a), k_b, queue)
        keys = [k_b]
        if self.sym:
            k_a = self.target(a)
            loss = (loss + self.loss_fn(self.online(b), k_a, queue)) / 2
            keys.append(k_a)
        if self.queue is not None:
            self.queue.enqueue(F.normalize(concat_all_gather(torch.cat(keys).float()), dim=1))
        outputs = {}
        for name, term in self.aux_terms.items():
            value = term(self, views)
            outputs[f"loss_{name}"] = value.detach()
            loss = loss + value
        outputs["loss"] = loss
        return outputs

    @torch.no_grad()
    def after_optimizer_step(self, step: int, max_steps: int) -> Dict[str, float]:
        """EMA of the target with the cosine schedule from `momentum` to 1 (per step)."""
        momentum = cosine_momentum(step, max_steps, self.base_momentum)
        ema_update(self.target_backbone, self.backbone, momentum)
        ema_update(self.target_projector, self.projector, momentum)
        return {"momentum": momentum}
