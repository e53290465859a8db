"""Auxiliary objectives for `MomentumMethod.aux_terms`: modules called as term(method, views) that
return a weighted scalar, built from `method.inter_intra` and `method.long_short` (both off by default).

inter_intra: DualVar's dual representation (Zhang et al., BMVC 2021): a series head of C chunk
  slots on the online backbone, trained by shuffle-rank on the temporal chunks of view 0 and by
  the temporal-coherent NT-Xent between views 0 and 1. Logged as loss_inter_intra.
long_short: long/short view decomposition (Behrmann et al., ICCV 2021): view 0 is the long view,
  its N consecutive sub-clips are the short views (no extra decoding). Logged as loss_long_short.
The formulas are written out in `videosce/losses/temporal.py`. The terms reuse the online backbone
features MomentumMethod keeps for the views it encoded (`online_features`) and run the backbone
only on their own inputs (inter_intra: the shuffled clip; long_short: the sub-clips).
"""
from __future__ import annotations

from typing import Dict, Sequence

import torch
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
from videosce.utils.dist import get_rank, get_world_size


def clip_features(method: nn.Module, views: Sequence[torch.Tensor], index: int, clips: torch.Tensor) -> torch.Tensor:
    """Online backbone features (B,D) of `clips`: the method's own features of views[index] when it
    kept them during this forward and `clips` is that view unchanged, else a fresh backbone pass."""
    kept = getattr(method, "online_features", [])
    if clips is views[index] and index < len(kept) and kept[index].dim() == 2:
        return kept[index]
    return method.backbone(clips)


def check_clip_views(views: Sequence[torch.Tensor], name: str) -> None:
    if len(views) < 2 or any(v.dim() != 5 for v in views[:2]):
        raise ValueError(f"method.{name} needs two clip views (B,3,T,H,W), got shapes {[tuple(v.shape) for v in views[:2]]}")


def mlp(in_dim: int, hidden_dim: int, out_dim: int) -> nn.Sequential:
    """Linear-ReLU-Linear without BN, so the heads work on any batch size (DualVar's 1x1-conv head)."""
    return nn.Sequential(nn.Linear(in_dim, hidden_dim), nn.ReLU(inplace=True), nn.Linear(hidden_dim, out_dim))


class InterIntraTerm(nn.Module):
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
        return self.head(features).unflatten(1, (self.chunks, self.dim))

    def forward(self, method: nn.Module, views: Sequence[torch.Tensor]) -> torch.Tensor:
        check_clip_views(views, "inter_intra")
        a, b = views[0], views[1]
        covered = self.chunks * chunk_length(a.shape[2], self.chunks)
        a = a if covered == a.shape[2] else a[:, :, :covered]  # the frames the chunks cover
        s_a, s_b = self.series(clip_features(method, views, 0, a)), self.series(clip_features(method, views, 1, b))
        loss = torch.zeros((), device=a.device)
        if self.coherent_weight > 0:
            loss = loss + self.coherent_weight * temporal_coherent_loss(s_a, s_b, self.coherent_temp, get_rank(), get_world_size())
        if self.rank_weight > 0:
            perm = torch.rand(a.shape[0], self.chunks, device=a.device).argsort(dim=1)  # a uniform permutation per clip
            calibrated = unshuffle_slots(self.series(method.backbone(shuffle_chunks(a, perm))), perm)
            # the shuffled clip against its own unshuffled copy and against the other view, 1/2 each
            ranking = (shuffle_rank_loss(s_a, calibrated, self.rank_temp) + shuffle_rank_loss(s_b, calibrated, self.rank_temp)) / 2
            loss = loss + self.rank_weight * ranking
        return loss

    def extra_repr(self) -> str:
        return (f"chunks={self.chunks}, dim={self.dim}, rank_weight={self.rank_weight}, coherent_weight={self.coherent_weight}, "
                f"rank_temp={self.rank_temp}, coherent_temp={self.coherent_temp}")


class LongShortTerm(nn.Module):
    """weight * (L_stat + L_nonstat) on a dim-wide embedding whose first stationary_dim dims are stationary."""

    def __init__(self, in_dim: int, num_short: int = 2, dim: int = 128, stationary_dim: int = 64, weight: float = 1.0, temp: float = 0.1) -> None:
        super().__init__()
        if not 0 < stationary_dim < dim:
            raise ValueError(f"stationary_dim must be within (0, {dim}), got {stationary_dim}")
        self.num_short, self.stationary_dim, self.weight, self.temp = num_short, stationary_dim, weight, temp
        self.head = mlp(in_dim, in_dim, dim)
        moving = dim - stationary_dim
        self.aggregate = nn.Linear(num_short * moving, moving)  # g: short views' z_n in temporal order -> long z_n

    def forward(self, method: nn.Module, views: Sequence[torch.Tensor]) -> torch.Tensor:
        check_clip_views(views, "long_short")
        long = views[0]
        short = split_time(long, self.num_short)  # (B,N,3,T/N,H,W)
        z_long = self.head(clip_features(method, views, 0, long))
        z_short = self.head(method.backbone(short.flatten(0, 1))).unflatten(0, short.shape[:2])
        aggregated = self.aggregate(z_short[..., self.stationary_dim :].flatten(1))
        return self.weight * long_short_loss(z_long, z_short, aggregated, self.stationary_dim, self.temp, get_rank(), get_world_size())

    def extra_repr(self) -> str:
        return f"num_short={self.num_short}, stationary_dim={self.stationary_dim}, weight={self.weight}, temp={self.temp}"


def build_aux_terms(in_dim: int, method_cfg) -> Dict[str, nn.Module]:
    """The enabled auxiliary terms of `method_cfg` (none by default) for a backbone of `in_dim` features."""
    terms: Dict[str, nn.Module] = {}
    ii = method_cfg.inter_intra
    if ii.rank_weight > 0 or ii.coherent_weight > 0:
        terms["inter_intra"] = InterIntraTerm(
            in_dim, ii.chunks, ii.dim, ii.rank_weight, ii.coherent_weight, ii.rank_temp, ii.coherent_temp
        )
    ls = method_cfg.long_short
    if ls.weight > 0:
        terms["long_short"] = LongShortTerm(in_dim, ls.num_short, ls.dim, ls.stationary_dim, ls.weight, ls.temp)
    return terms
