"""DenseCL for video (Wang et al., CVPR 2021): a dense contrastive term (`method.densecl.*`, logged
as loss_densecl) of the momentum methods, on the last feature map of both branches.

For each (online view a, target view b) pair of the method's global loss:
  dense heads   q = head(online last map of a), k = target_head(target last map of b), both
                (B,D,T,H,W); head = 1x1x1 conv, ReLU, 1x1x1 conv (`dense_projector`), target_head
                its EMA copy, moved with the method's target momentum
  positives     for each online cell, the target cell whose BACKBONE feature has the highest
                cosine with its own (`dense_correspondence`), over all T*H*W cells, time included
  negatives     a dense queue of pooled dense keys (k averaged over its cells, one per clip,
                gathered from every rank), `method.queue_size` long, the term's own
  loss          InfoNCE at `temp` over every online cell (`dense_loss`); `soft=true` adds SCE's
                relational soft target (`method.coeff`, `method.temp_m`, their final values)
  combined      the paper's (1 - lambda) * global + lambda * dense, lambda = `weight` (0.5 in the
                paper): the method's loss is scaled by `global_scale` = 1 - lambda
                and this term returns lambda * the dense loss, averaged over the pairs.

Interpretation: the paper's cells are spatial (S x S); a video map adds time, and a cell of one clip
may correspond to any time step of the other clip, so the argmax looks over space and time. The
term owns its queue (the paper's second queue), so it also runs with BYOL, whose global loss has no
queue. It needs clips (B,3,T,H,W), not VCLR's video-level views.
"""
from __future__ import annotations

import copy
from typing import Optional

import torch

from videosce.losses import dense_correspondence, dense_loss
from videosce.models import VideoBackbone
from videosce.models.heads import dense_projector
from videosce.models.momentum import ema_update
from videosce.utils.dist import concat_all_gather

from .queue import QueueNegatives
from .terms import Term, TermInputs, register_term


class DenseCLTerm(Term):
    """lambda * mean over the pairs of the dense loss; the method's own loss scaled by 1 - lambda."""

    def __init__(
        self, in_dim: int, stage: str, hidden_dim: int, dim: int, weight: float, temp: float, queue_size: int,
        temp_m: float = 0.05, coeff: float = 1.0,
    ) -> None:
        super().__init__()
        self.stages, self.global_scale = (stage,), 1.0 - weight
        self.weight, self.temp, self.temp_m, self.coeff = weight, temp, temp_m, coeff
        self.head = dense_projector(in_dim, hidden_dim, dim)
        self.target_head = copy.deepcopy(self.head).requires_grad_(False)
        self.negatives = QueueNegatives(queue_size, dim)

    def forward(self, inputs: TermInputs) -> torch.Tensor:
        stage = self.stages[0]
        losses, pooled = [], []
        for a, b in inputs.pairs:
            online, target = inputs.online_maps[a][stage], inputs.target_maps[b][stage]
            q = self.head(online)
            with torch.no_grad():
                k = self.target_head(target)
                match = dense_correspondence(online.detach(), target)
            losses.append(dense_loss(q, k, match, self.negatives(q, k, 0.0), self.temp, self.temp_m, self.coeff))
            pooled.append(k.mean(dim=(2, 3, 4)))
        self.negatives.push(concat_all_gather(torch.cat(pooled)))
        return self.weight * sum(losses) / len(losses)

    @torch.no_grad()
    def update_target(self, momentum: float) -> None:
        ema_update(self.target_head, self.head, momentum)

    def extra_repr(self) -> str:
        return f"stage={self.stages[0]}, weight={self.weight}, temp={self.temp}, temp_m={self.temp_m}, coeff={self.coeff}"


@register_term("densecl")
def build_densecl(backbone: VideoBackbone, method_cfg) -> Optional[DenseCLTerm]:
    dc = method_cfg.densecl
    if dc.weight <= 0:
        return None
    coeff = method_cfg.coeff if dc.soft else 1.0
    return DenseCLTerm(
        backbone.num_features, backbone.stage_names[-1], dc.hidden_dim, dc.dim, dc.weight, dc.temp, method_cfg.queue_size, method_cfg.temp_m, coeff
    )
