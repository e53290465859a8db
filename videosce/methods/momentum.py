"""The momentum-target family (SCE, MoCo, ReSSL, BYOL) as one composition, and its shared construction.

online:    q = predictor(projector(backbone(view)))               (predictor optional)
target:    k = EMATarget(view): EMA copies, no gradient           (methods/target.py)
negatives: QueueNegatives(q, k, progress, generator)              (methods/queue.py; None for BYOL)
loss:      loss(q_a, k_b, negatives, **schedule.at(progress)), plus the swapped pair when `sym`; the
           SCE family's loss is `SCELoss` (losses/sce.py), its coeff / temp_m from `SCESchedule`
           (videosce/schedules.py); then the keys of the step, gathered from every rank, are pushed
           into the queue
local views (multi-crop): views[2:] go through the online branch only (one backbone + head call on
           all of them, so BatchNorm sees them as one batch, as multi-crop code does); each local query
           meets each global key the target computed (both global views with `sym`, views[1]
           without) through the same loss and negatives. The loss is the plain mean over every
           (query, key) pair: with N local views, 2 + 2N pairs with `sym`, 1 + N without, each global
           and local pair weighing the same, as the SCE authors' multi-crop code (eztorch) averages
           them. Only the global keys are enqueued.
terms:     term(TermInputs(...)) for each auxiliary term (methods/terms.py), added to the loss and
           logged as loss_<name>; the method's own loss is first scaled by the terms' `global_scale`
           (1, or DenseCL's 1 - lambda). The backbone stages the terms ask for come out of the same
           online / target passes (`features_and_maps`), never from a second pass.
views:     clips (B,3,T,H,W), or VCLR video-level views (B,S,3,T,H,W) (methods/vclr.py)
random:    every draw (MoCHi, the terms' shuffles) comes from `generator`, a CPU generator seeded
           from the run seed (the same on every rank) and saved in the state_dict (`_extra_state`),
           so a resumed run draws what the uninterrupted run draws.

The method files (sce.py, moco.py, ressl.py, byol.py) each register one builder from these parts.
"""
from __future__ import annotations

import logging
import math
from typing import Callable, Dict, List, Mapping, Optional, Sequence, Tuple

import torch
from torch import nn

from videosce.losses import SCELoss
from videosce.models import VideoBackbone
from videosce.models.heads import predictor, projector
from videosce.schedules import SCESchedule
from videosce.utils.dist import concat_all_gather

from .queue import MochiOptions, QueueNegatives
from .target import EMATarget, features_and_maps
from .terms import Term, TermInputs, build_terms
from .vclr import pool_segments

log = logging.getLogger(__name__)


def keys_per_epoch(num_videos: int, batch_size: int, world_size: int, accumulate: int, sym: bool) -> int:
    """Keys one epoch enqueues: the videos of every optimizer step (each rank drops its last partial
    batch, as the Trainer does) times the views whose keys enter the queue (both when `sym`)."""
    videos_per_step = batch_size * accumulate
    steps = (num_videos // world_size) // videos_per_step
    return steps * videos_per_step * world_size * (2 if sym else 1)


def warn_if_queue_exceeds_epoch(queue_size: int, epoch_keys: int) -> bool:
    """One warning line when the queue outlasts an epoch: then every video meets its own older keys
    among its negatives (the positive's near-duplicates pushed away). Returns whether it warned."""
    if queue_size <= epoch_keys:
        return False
    log.warning("method.queue_size=%d exceeds the %d keys one epoch enqueues: the queue spans %.1f epochs, so each video's "
                "own keys from earlier epochs sit among its negatives; set method.queue_size below %d", queue_size, epoch_keys,
                queue_size / max(epoch_keys, 1), epoch_keys)
    return True


class MomentumMethod(nn.Module):
    """backbone/projector/predictor online, an EMA target, a loss; optionally queue negatives, loss
    warm-ups (`schedule`), local views and auxiliary terms."""

    def __init__(
        self,
        backbone: VideoBackbone,
        projector: nn.Module,
        predictor: Optional[nn.Module],
        loss: Callable[..., torch.Tensor],
        *,
        momentum: float,
        negatives: Optional[QueueNegatives] = None,
        schedule: Optional[SCESchedule] = None,
        terms: Optional[Mapping[str, Term]] = None,
        sym: bool = True,
        seed: int = 0,
    ) -> None:
        super().__init__()
        self.backbone, self.projector = backbone, projector
        self.predictor = predictor if predictor is not None else nn.Identity()
        self.target = EMATarget(backbone, projector, momentum)
        self.loss, self.negatives, self.schedule, self.sym = loss, negatives, schedule, sym
        self.terms = nn.ModuleDict(terms or {})
        wanted = {stage for term in self.terms.values() for stage in term.stages}
        # the stages both branches return, in trunk order, ending with the last map (pooled for the loss)
        self.stages: Tuple[str, ...] = tuple(n for n in backbone.stage_names[:-1] if n in wanted) + backbone.stage_names[-1:] if wanted else ()
        self.generator = torch.Generator().manual_seed(seed)
        self.register_buffer("progress", torch.zeros(()))  # step / max_steps of the last optimizer step

    def head(self, features: torch.Tensor) -> torch.Tensor:
        """Online projector (+ predictor) on backbone features (B,D) or per segment (B,S,D)."""
        return self.predictor(self.projector(pool_segments(features)))

    def online(self, clips: torch.Tensor) -> torch.Tensor:
        return self.head(features_and_maps(self.backbone, clips)[0])

    def encode_local(self, clips: Sequence[torch.Tensor]) -> Tuple[List[torch.Tensor], List[Dict[str, torch.Tensor]]]:
        """Queries (B,K) and stage maps of the local views, from one backbone + head call on all of them."""
        if len({tuple(c.shape) for c in clips}) > 1:
            raise ValueError(f"the local views must share one shape, got {[tuple(c.shape) for c in clips]}")
        n = len(clips)
        features, maps = features_and_maps(self.backbone, torch.cat(list(clips)), self.stages)
        chunks = {stage: m.chunk(n) for stage, m in maps.items()}
        return list(self.head(features).chunk(n)), [{stage: c[i] for stage, c in chunks.items()} for i in range(n)]

    def forward(self, views: Sequence[torch.Tensor], labels: Optional[torch.Tensor] = None) -> Dict[str, torch.Tensor]:
        """views: 2 global views, clips (B,3,T,H,W) or (B,S,3,T,H,W), then any local clips, all of the
        same videos; labels are unused (self-supervised)."""
        if len(views) < 2:
            raise ValueError(f"{type(self).__name__} needs at least 2 views per video, got {len(views)}")
        progress = float(self.progress)
        loss_args = self.schedule.at(progress) if self.schedule is not None else {}

        def contrast(q: torch.Tensor, k: torch.Tensor) -> torch.Tensor:
            negatives = self.negatives(q, k, progress, self.generator) if self.negatives is not None else None
            return self.loss(q, k, negatives, **loss_args)

        pairs = [(0, 1), (1, 0)] if self.sym else [(0, 1)]
        features, keys, losses = [], {}, []
        online_maps: Dict[int, Dict[str, torch.Tensor]] = {}
        target_maps: Dict[int, Dict[str, torch.Tensor]] = {}
        for a, b in pairs:
            keys[b], target_maps[b] = self.target.keys_and_maps(views[b], self.stages)
            f, online_maps[a] = features_and_maps(self.backbone, views[a], self.stages)
            features.append(f)
            losses.append(contrast(self.head(f), keys[b]))
        if len(views) > 2:
            queries, maps = self.encode_local(views[2:])
            online_maps.update(enumerate(maps, start=2))
            losses.extend(contrast(q, k) for q in queries for k in keys.values())
        loss = sum(losses) / len(losses)
        if self.negatives is not None:
            self.negatives.push(concat_all_gather(torch.cat(list(keys.values()))))
        loss = loss * math.prod(term.global_scale for term in self.terms.values())
        outputs = {}
        inputs = TermInputs(views, features, self.backbone, self.generator, pairs, online_maps, target_maps)
        for name, term in self.terms.items():
            value = term(inputs)
            outputs[f"loss_{name}"] = value.detach()
            loss = loss + value
        outputs["loss"] = loss
        return outputs

    @torch.no_grad()
    def after_optimizer_step(self, step: int, max_steps: int) -> Dict[str, float]:
        """EMA of the target (cosine momentum to 1), queue ages +1, the warm-ups move on; returns the
        momentum and the loss's scheduled values for the log."""
        momentum = self.target.update(self.backbone, self.projector, step, max_steps)
        for term in self.terms.values():
            term.update_target(momentum)
        if self.negatives is not None:
            self.negatives.tick()
        progress = step / max(max_steps, 1)
        self.progress.fill_(progress)
        return {"momentum": momentum, **(self.schedule.at(progress) if self.schedule is not None else {})}

    def get_extra_state(self) -> torch.Tensor:
        return self.generator.get_state()

    def set_extra_state(self, state: torch.Tensor) -> None:
        self.generator.set_state(state.cpu())


def queue_negatives(method_cfg, dim: int) -> QueueNegatives:
    """`method.queue_size`, `use_keys`, `temporal_decay` (ages are kept when < 1) and `mochi` -> the provider."""
    m = method_cfg
    mix = m.mochi.num_mix > 0 or m.mochi.num_mix_query > 0
    mochi = MochiOptions(m.mochi.num_hard, m.mochi.num_mix, m.mochi.num_mix_query, m.mochi.start_fraction) if mix else None
    return QueueNegatives(m.queue_size, dim, use_keys=m.use_keys, track_ages=m.temporal_decay < 1, mochi=mochi)


def build_momentum_method(
    backbone: VideoBackbone, model_cfg, method_cfg, loss: Callable[..., torch.Tensor], *, schedule: Optional[SCESchedule] = None,
    queue: bool = True, seed: int = 0,
) -> MomentumMethod:
    """Backbone + SCE's projector (+ predictor when `method.predictor`) + EMA target, the terms
    `method_cfg` turns on, and (when `queue`) the queue negatives of `method_cfg`."""
    in_dim = backbone.num_features
    return MomentumMethod(
        backbone,
        projector(in_dim, model_cfg.proj_hidden_dim, model_cfg.proj_dim),
        predictor(model_cfg.proj_dim, model_cfg.pred_hidden_dim) if method_cfg.predictor else None,
        loss,
        momentum=method_cfg.momentum,
        terms=build_terms(backbone, method_cfg),
        negatives=queue_negatives(method_cfg, model_cfg.proj_dim) if queue else None,
        schedule=schedule,
        sym=method_cfg.sym,
        seed=seed,
    )


def build_sce_family(backbone: VideoBackbone, model_cfg, method_cfg, coeff: float, seed: int) -> MomentumMethod:
    """The generalised SCE loss (with the negative options of `method_cfg`) at `coeff`, warmed up from 1
    when `method.coeff_warmup_fraction` > 0, with its temp_m warm-up; queue negatives."""
    m = method_cfg
    loss = SCELoss(m.temp, m.temporal_decay, m.temporal_decay_mode, m.hard_negatives.beta, m.hard_negatives.tau_plus)
    schedule = SCESchedule(coeff, m.temp_m, m.coeff_warmup_fraction, m.temp_m_start, m.temp_m_warmup_fraction)
    return build_momentum_method(backbone, model_cfg, method_cfg, loss, schedule=schedule, seed=seed)
