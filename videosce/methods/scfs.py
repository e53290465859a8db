"""SCFS for video: semantics-consistent feature search (Song et al., ICCV 2023), an auxiliary term
(`method.scfs.*`, logged as loss_scfs) of the momentum methods; it needs local views (multi-crop).

For each searched stage s and each local view l (an online-only clip, `data.local_views`):
  query vector  v = mean over (t,h,w) of the online stage-s map of l, no gradient
  attention     a = cosine of v with every cell of the target's stage-s map G of the global view
                views[1] (`attention_map`), over all T*H*W cells
  searched      G weighted by a (`searched_feature`)
  loss          SCE (or InfoNCE) between q = head_s(online map of l) and k = target_head_s(searched),
                the other videos' k (gathered from every rank) as negatives, the own one masked
  term          weight * sum over stages of the mean over local views (the authors add one loss per
                stage, 0.5 * (global + local), the local part averaged over local crops: weight 0.5
                gives their local half)
head_s is a `StageHead` per stage (residual conv bottleneck + MLP, the authors' "shallow head"),
target_head_s its EMA copy, moved with the method's target momentum.

What the video case forced, and other choices (the authors' code, skyoux/scfs `models/scfs.py`, is
the image reference):
* time axis: the attention runs over every spatio-temporal cell, time included: a local clip is
  drawn at its own start in the video, so what it shows may sit at any time step of the global map.
* stages: res3, res4 and res5 by default (the authors' layer2..layer4 of a ResNet-50); any named
  stage of the backbone (`VideoBackbone.stage_names`) can be listed.
* target view: views[1], the one global view the target encodes with `sym` on or off (the authors
  search their first global crop); its stage maps come out of the target pass the method makes
  anyway.
* the authors' per-stage loss also contrasts the two global views through the stage heads; here
  the global pair is contrasted by the method's own loss only, and the term is the local search.
* loss: the authors train with DINO's distillation; SCE needs negatives, so the keys of the other
  videos in the batch serve (no extra queue); `soft=false` gives InfoNCE. In the soft form the
  coefficient and target temperature are `method.coeff` / `method.temp_m` (their final values:
  the method's warm-ups do not move them).
"""
from __future__ import annotations

import copy
from typing import Mapping, Optional

import torch
from torch import nn

from videosce.config import ConfigError
from videosce.losses import Negatives, attention_map, sce_loss, searched_feature
from videosce.models import VideoBackbone
from videosce.models.heads import StageHead
from videosce.models.momentum import ema_update
from videosce.utils.dist import concat_all_gather, get_rank

from .terms import Term, TermInputs, register_term


def batch_negatives(keys: torch.Tensor) -> Negatives:
    """The keys (B,D) of every rank as negatives, each query's own key marked to be masked."""
    own = get_rank() * keys.shape[0] + torch.arange(keys.shape[0], device=keys.device)
    return Negatives(concat_all_gather(keys.detach()), own=own)


class ScfsTerm(Term):
    """weight * sum_s mean_l SCE(head_s(local l), target_head_s(views[1]'s stage-s map searched by l))."""

    def __init__(
        self, stage_dims: Mapping[str, int], bottleneck_dim: int, hidden_dim: int, dim: int, weight: float, temp: float,
        temp_m: float = 0.05, coeff: float = 1.0,
    ) -> None:
        super().__init__()
        self.stages = tuple(stage_dims)
        self.weight, self.temp, self.temp_m, self.coeff = weight, temp, temp_m, coeff
        self.heads = nn.ModuleDict({s: StageHead(c, bottleneck_dim, hidden_dim, dim) for s, c in stage_dims.items()})
        self.target_heads = copy.deepcopy(self.heads).requires_grad_(False)

    def forward(self, inputs: TermInputs) -> torch.Tensor:
        local = range(2, len(inputs.views))
        if not local:
            raise ValueError("method.scfs needs local views after the 2 global ones (data.local_views >= 1)")
        loss = torch.zeros((), device=inputs.views[0].device)
        for stage in self.stages:
            target = inputs.target_maps[1][stage]
            maps = [inputs.online_maps[i][stage] for i in local]
            q = self.heads[stage](torch.cat(maps))  # the local views as one batch, like the backbone call
            with torch.no_grad():
                searched = [searched_feature(target, attention_map(m.detach().mean(dim=(2, 3, 4)), target)) for m in maps]
                k = self.target_heads[stage](torch.cat(searched))
            per_view = [
                sce_loss(q_l, k_l, batch_negatives(k_l), self.temp, self.temp_m, self.coeff)
                for q_l, k_l in zip(q.chunk(len(maps)), k.chunk(len(maps)))
            ]
            loss = loss + sum(per_view) / len(per_view)
        return self.weight * loss

    @torch.no_grad()
    def update_target(self, momentum: float) -> None:
        ema_update(self.target_heads, self.heads, momentum)

    def extra_repr(self) -> str:
        return f"stages={self.stages}, weight={self.weight}, temp={self.temp}, temp_m={self.temp_m}, coeff={self.coeff}"


@register_term("scfs")
def build_scfs(backbone: VideoBackbone, method_cfg) -> Optional[ScfsTerm]:
    sc = method_cfg.scfs
    if sc.weight <= 0:
        return None
    unknown = [s for s in sc.stages if s not in backbone.stage_names]
    if unknown:
        raise ConfigError(f"bad value for config key 'method.scfs.stages': '{unknown[0]}' is no stage of this backbone; choose from {', '.join(backbone.stage_names)}")
    coeff = method_cfg.coeff if sc.soft else 1.0
    return ScfsTerm(backbone.stage_channels(sc.stages), sc.bottleneck_dim, sc.hidden_dim, sc.dim, sc.weight, sc.temp, method_cfg.temp_m, coeff)
