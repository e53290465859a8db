"""The momentum-target family (SCE, MoCo, ReSSL, BYOL) as one composition.

online:  q = predictor(projector(backbone(view)))      (predictor optional)
target:  k = projector_t(backbone_t(view)), EMA copies, no gradient
loss:    loss_fn(q_a, k_b, queue) (+ the swapped pair when `sym`), then the keys of both views,
         gathered from every rank, enter the FIFO queue (methods without a queue pass None).
negatives: with `use_keys`, temporal decay (queue ages) or MoCHi on, the loss receives a
         `Negatives` bundle instead of the bare queue (videosce/losses/negatives.py); `schedule`
         warms SCE's coeff / temp_m up. All off by default.
aux:     optional auxiliary objectives (`aux_terms`, name -> module called as term(method, views)
         returning a weighted scalar) are added to the loss and logged as `loss_<name>`; during
         the call `method.online_features` holds the online backbone features of the views that
         went through `online` (views[0], and views[1] when `sym`), for terms that reuse them.
views:   clips (B,3,T,H,W), or VCLR video-level views (B,S,3,T,H,W): each clip is encoded alone and
         the S features averaged before the projector (methods/vclr.py).
"""
from __future__ import annotations

import copy
import logging
from typing import Callable, Dict, Mapping, Optional, Sequence, Union

import torch
import torch.nn.functional as F
from torch import nn

from videosce.losses.negatives import MochiOptions, Negatives, mochi_negatives
from videosce.models import VideoBackbone
from videosce.models.momentum import KeyQueue, SCESchedule, cosine_momentum, ema_update
from videosce.utils.dist import concat_all_gather, get_rank

from .vclr import encode_clips, pool_segments

LossFn = Callable[[torch.Tensor, torch.Tensor, Optional[torch.Tensor]], torch.Tensor]

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
        use_keys: bool = False,
        track_ages: bool = False,
        mochi: Optional[MochiOptions] = None,
        schedule: Optional[SCESchedule] = None,
    ) -> None:
        super().__init__()
        self.backbone, self.projector = backbone, projector
        self.predictor = predictor if predictor is not None else nn.Identity()
        self.target_backbone = copy.deepcopy(backbone).requires_grad_(False)
        self.target_projector = copy.deepcopy(projector).requires_grad_(False)
        self.queue = KeyQueue(queue_size, key_dim, track_ages) if queue_size else None
        self.loss_fn, self.base_momentum, self.sym = loss_fn, momentum, sym
        self.aux_terms = nn.ModuleDict(aux_terms or {})
        self.online_features: list = []
        self.use_keys, self.mochi, self.schedule = use_keys, mochi, schedule
        # step / max_steps, saved so that warm-ups and the MoCHi start resume where they were
        self.register_buffer("progress", torch.zeros(()) if mochi or schedule else None)

    def head(self, features: torch.Tensor) -> torch.Tensor:
        """Online projector (+ predictor) on backbone features (B,D) or per segment (B,S,D)."""
        return self.predictor(self.projector(pool_segments(features)))

    def online(self, clips: torch.Tensor) -> torch.Tensor:
        return self.head(encode_clips(self.backbone, clips))

    @torch.no_grad()
    def target(self, clips: torch.Tensor) -> torch.Tensor:
        return self.target_projector(pool_segments(encode_clips(self.target_backbone, clips)))

    def forward(self, views: Sequence[torch.Tensor], labels: Optional[torch.Tensor] = None) -> Dict[str, torch.Tensor]:
        """views: clips (B,3,T,H,W) or (B,S,3,T,H,W) of the same videos; labels are unused (self-supervised)."""
        if len(views) < 2:
            raise ValueError(f"{type(self).__name__} needs at least 2 views per video, got {len(views)}")
        a, b = views[0], views[1]
        if self.schedule is not None:  # SCE's warm-ups set the loss's current coeff / temp_m
            for name, value in self.schedule.at(float(self.progress)).items():
                setattr(self.loss_fn, name, value)
        queue = self.queue.keys.clone() if self.queue is not None else None
        k_b = self.target(b)
        self.online_features = [encode_clips(self.backbone, a)]
        q_a = self.head(self.online_features[0])
        loss = self.loss_fn(q_a, k_b, self.negatives(q_a, k_b, queue))
        keys = [k_b]
        if self.sym:
            k_a = self.target(a)
            self.online_features.append(encode_clips(self.backbone, b))
            q_b = self.head(self.online_features[1])
            loss = (loss + self.loss_fn(q_b, k_a, self.negatives(q_b, k_a, queue))) / 2
            keys.append(k_a)
        if self.queue is not None:
            self.queue.enqueue(F.normalize(concat_all_gather(torch.cat(keys).float()), dim=1))
        outputs = {}
        for name, term in self.aux_terms.items():
            value = term(self, views)
            outputs[f"loss_{name}"] = value.detach()
            loss = loss + value
        self.online_features = []  # the graph is not kept past the forward
        outputs["loss"] = loss
        return outputs

    def negatives(self, q: torch.Tensor, k: torch.Tensor, queue: Optional[torch.Tensor]) -> Union[None, torch.Tensor, Negatives]:
        """The queue as is or, with use_keys / temporal decay / MoCHi on, a `Negatives` bundle for this pair."""
        mochi = self.mochi is not None and float(self.progress) >= self.mochi.start
        if queue is None or not (self.use_keys or self.queue.ages is not None or mochi):
            return queue
        keys, ages, own = queue, self.queue.ages, None
        if self.use_keys:  # every rank's batch keys join the negatives; each query's own key is masked
            batch = F.normalize(concat_all_gather(k.float()), dim=1)
            own = queue.shape[0] + get_rank() * k.shape[0] + torch.arange(k.shape[0], device=k.device)
            keys = torch.cat([queue, batch])
            ages = None if ages is None else torch.cat([ages, ages.new_zeros(batch.shape[0])])
        synthetic = mochi_negatives(q, queue, self.mochi.num_hard, self.mochi.num_mix, self.mochi.num_mix_query) if mochi else None
        return Negatives(keys, ages, own, synthetic)  # synthetic negatives live in this loss only, never enqueued

    @torch.no_grad()
    def after_optimizer_step(self, step: int, max_steps: int) -> Dict[str, float]:
        """EMA of the target with the cosine schedule from `momentum` to 1 (per step); queue ages +1;
        SCE's warm-ups move on (their current coeff / temp_m are logged)."""
        momentum = cosine_momentum(step, max_steps, self.base_momentum)
        ema_update(self.target_backbone, self.backbone, momentum)
        ema_update(self.target_projector, self.projector, momentum)
        if self.queue is not None:
            self.queue.tick()
        if self.progress is not None:
            self.progress.fill_(step / max(max_steps, 1))
        return {"momentum": momentum, **(self.schedule.at(step / max(max_steps, 1)) if self.schedule else {})}
