"""Two auxiliary terms (`methods/terms.py`), each off by default: `method.inter_intra` and `method.long_short`.

inter_intra: DualVar's dual representation (Zhang et al., BMVC 2021): a series head of C chunk
  slots on the online backbone, trained by shuffle-rank on the temporal chunks of view 0 and by
  the temporal-coherent NT-Xent between views 0 and 1. Logged as loss_inter_intra.
long_short: long/short view decomposition (Behrmann et al., ICCV 2021): view 0 is the long view,
  its N consecutive sub-clips are the short views (no extra decoding). Logged as loss_long_short.
The formulas are written out in `videosce/losses/temporal.py`. The terms reuse the online backbone
features of the views the method encoded (`TermInputs.features`) and run the backbone only on
their own inputs (inter_intra: the shuffled clip; long_short: the sub-clips).
"""
from __future__ import annotations

from typing import Optional, Sequence

import torch
from einops import rearrange
from torch import nn

from videosce.losses.temporal import (
    chunk_length,
    long_short_loss,
    shuffle_chunks,
    shuffle_rank_loss,
    split_time,
    temporal_coherent_loss,
    unshuffle_slots,
)
from videosce.models import VideoBackbone
from videosce.utils.dist import get_rank, get_world_size

from .terms import Term, TermInputs, register_term
from .vclr import encode_clips


def clip_features(inputs: TermInputs, index: int, clips: torch.Tensor) -> torch.Tensor:
    """Online backbone features (B,D) of `clips`: the method's features of views[index] when it
    encoded that view and `clips` is that view unchanged, else a fresh backbone pass."""
    kept = inputs.features
    if clips is inputs.views[index] and index < len(kept) and kept[index].dim() == 2:
        return kept[index]
    return inputs.backbone(clips)


def check_clip_views(views: Sequence[torch.Tensor], name: str) -> None:
    if len(views) < 2 or any(v.dim() != 5 for v in views[:2]):
        raise ValueError(f"method.{name} needs two clip views (B,3,T,H,W), got shapes {[tuple(v.shape) for v in views[:2]]}")


def mlp(in_dim: int, hidden_dim: int, out_dim: int) -> nn.Sequential:
    """Linear-ReLU-Linear without BN, so the heads work on any batch size (DualVar's 1x1-conv head)."""
    return nn.Sequential(nn.Linear(in_dim, hidden_dim), nn.ReLU(inplace=True), nn.Linear(hidden_dim, out_dim))


class InterIntraTerm(Term):
    """rank_weight * L_rank + coherent_weight * L_coherent on a (B,C,dim) series head."""

    def __init__(
        self, in_dim: int, chunks: int = 2, dim: int = 64, rank_weight: float = 1.0, coherent_weight: float = 1.0,
        rank_temp: float = 0.05, coherent_temp: float = 0.07,
    ) -> None:
        super().__init__()
        self.chunks, self.dim = chunks, dim
        self.rank_weight, self.coherent_weight = rank_weight, coherent_weight
        self.rank_temp, self.coherent_temp = rank_temp, coherent_temp
        self.head = mlp(in_dim, in_dim, chunks * dim)

    def series(self, features: torch.Tensor) -> torch.Tensor:
        """Backbone features (B,D) -> (B,C,dim) slot features (unnormalised; the losses normalise)."""
        return rearrange(self.head(features), "b (c d) -> b c d", c=self.chunks)

    def forward(self, inputs: TermInputs) -> torch.Tensor:
        check_clip_views(inputs.views, "inter_intra")
        a, b = inputs.views[0], inputs.views[1]
        covered = self.chunks * chunk_length(a.shape[2], self.chunks)
        a = a if covered == a.shape[2] else a[:, :, :covered]  # the frames the chunks cover
        s_a, s_b = self.series(clip_features(inputs, 0, a)), self.series(clip_features(inputs, 1, b))
        loss = torch.zeros((), device=a.device)
        if self.coherent_weight > 0:
            loss = loss + self.coherent_weight * temporal_coherent_loss(s_a, s_b, self.coherent_temp, get_rank(), get_world_size())
        if self.rank_weight > 0:
            # a uniform permutation per clip, drawn on the CPU from the method's generator
            perm = torch.rand(a.shape[0], self.chunks, generator=inputs.generator).argsort(dim=1).to(a.device)
            calibrated = unshuffle_slots(self.series(inputs.backbone(shuffle_chunks(a, perm))), perm)
            # the shuffled clip against its own unshuffled copy and against the other view, 1/2 each
            ranking = (shuffle_rank_loss(s_a, calibrated, self.rank_temp) + shuffle_rank_loss(s_b, calibrated, self.rank_temp)) / 2
            loss = loss + self.rank_weight * ranking
        return loss

    def extra_repr(self) -> str:
        return (f"chunks={self.chunks}, dim={self.dim}, rank_weight={self.rank_weight}, coherent_weight={self.coherent_weight}, "
                f"rank_temp={self.rank_temp}, coherent_temp={self.coherent_temp}")


class LongShortTerm(Term):
    """weight * (L_stat + L_nonstat) on a dim-wide embedding whose first stationary_dim dims are stationary."""

    def __init__(self, in_dim: int, num_short: int = 2, dim: int = 128, stationary_dim: int = 64, weight: float = 1.0, temp: float = 0.1) -> None:
        super().__init__()
        if not 0 < stationary_dim < dim:
            raise ValueError(f"stationary_dim must be within (0, {dim}), got {stationary_dim}")
        self.num_short, self.stationary_dim, self.weight, self.temp = num_short, stationary_dim, weight, temp
        self.head = mlp(in_dim, in_dim, dim)
        moving = dim - stationary_dim
        self.aggregate = nn.Linear(num_short * moving, moving)  # g: short views' z_n in temporal order -> long z_n

    def forward(self, inputs: TermInputs) -> torch.Tensor:
        check_clip_views(inputs.views, "long_short")
        long = inputs.views[0]
        z_long = self.head(clip_features(inputs, 0, long))
        z_short = self.head(encode_clips(inputs.backbone, split_time(long, self.num_short)))  # (B,N,dim), N sub-clips in order
        aggregated = self.aggregate(rearrange(z_short[..., self.stationary_dim :], "b n d -> b (n d)"))
        return self.weight * long_short_loss(z_long, z_short, aggregated, self.stationary_dim, self.temp, get_rank(), get_world_size())

    def extra_repr(self) -> str:
        return f"num_short={self.num_short}, stationary_dim={self.stationary_dim}, weight={self.weight}, temp={self.temp}"


@register_term("inter_intra")
def build_inter_intra(backbone: VideoBackbone, method_cfg) -> Optional[InterIntraTerm]:
    ii = method_cfg.inter_intra
    if ii.rank_weight > 0 or ii.coherent_weight > 0:
        return InterIntraTerm(backbone.num_features, ii.chunks, ii.dim, ii.rank_weight, ii.coherent_weight, ii.rank_temp, ii.coherent_temp)
    return None


@register_term("long_short")
def build_long_short(backbone: VideoBackbone, method_cfg) -> Optional[LongShortTerm]:
    ls = method_cfg.long_short
    return LongShortTerm(backbone.num_features, ls.num_short, ls.dim, ls.stationary_dim, ls.weight, ls.temp) if ls.weight > 0 else None
