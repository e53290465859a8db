"""Video-level views of VCLR (Kuang et al., ICCV 2021, "Video Contrastive Learning with Global Context").

Why: two short clips of a video share little temporal context; VCLR's view covers the whole video.
A view is S clips, one random clip in each of S equal segments (data/samplers.segment_clips),
batched as (B,S,3,T,H,W). The backbone encodes each clip alone; the view's feature is the mean of
its S clip features, taken before the projector (`encode_clips` -> (B,S,D), `pool_segments` -> (B,D);
MomentumMethod's online encoder and its EMA target use both, so SCE / MoCo / ReSSL / BYOL take such views).

Temporal-order regulariser (`TemporalOrderTerm`, an aux term, logged as loss_vclr_order): with
probability 0.5 the segment order of a view is replaced by a random non-identity permutation, and a
small head on the concatenated per-segment features tells shuffled (1) from ordered (0), trained by
binary cross-entropy. Clips are encoded independently, so shuffling the features equals shuffling
the clips; the term reuses the online per-segment features the method passes in `TermInputs`.
"""
from __future__ import annotations

from typing import Optional, Tuple

import torch
import torch.nn.functional as F
from einops import rearrange, reduce
from torch import nn

from videosce.models import VideoBackbone

from .terms import Term, TermInputs, register_term


def encode_clips(backbone: nn.Module, clips: torch.Tensor) -> torch.Tensor:
    """Backbone features: clips (B,3,T,H,W) -> (B,D); a video-level view (B,S,3,T,H,W) -> (B,S,D),
    every clip through the backbone as its own sample (one call on B*S clips)."""
    if clips.dim() == 6:
        features = backbone(rearrange(clips, "b s c t h w -> (b s) c t h w"))
        return rearrange(features, "(b s) d -> b s d", s=clips.shape[1])
    return backbone(clips)


def pool_segments(features: torch.Tensor) -> torch.Tensor:
    """A video-level view's feature: the mean over its S segment features (B,S,D) -> (B,D); (B,D) passes."""
    return reduce(features, "b s d -> b d", "mean") if features.dim() == 3 else features


def shuffle_segments(
    features: torch.Tensor, p: float = 0.5, generator: Optional[torch.Generator] = None
) -> Tuple[torch.Tensor, torch.Tensor]:
    """(B,S,D) -> (features with each row's segments permuted with probability p, labels (B,) 1.0 = shuffled).

    A shuffled row gets a uniformly drawn permutation other than the identity, so its label is never
    wrong. Random numbers are drawn on the CPU (`generator`, else torch's global one) for any device.
    """
    batch, segments = features.shape[:2]
    if segments < 2:
        raise ValueError(f"shuffling needs >= 2 segments, got {segments}")
    shuffled = torch.rand(batch, generator=generator) < p
    identity = torch.arange(segments)
    perm = torch.rand(batch, segments, generator=generator).argsort(dim=1)
    while True:  # redraw the shuffled rows that drew the identity (probability 1/S! each)
        redraw = shuffled & (perm == identity).all(dim=1)
        if not redraw.any():
            break
        perm[redraw] = torch.rand(int(redraw.sum()), segments, generator=generator).argsort(dim=1)
    perm = torch.where(shuffled[:, None], perm, identity).to(features.device)
    return features.gather(1, perm[..., None].expand_as(features)), shuffled.float().to(features.device)


def order_loss(head: nn.Module, features: torch.Tensor, p: float = 0.5, generator: Optional[torch.Generator] = None) -> torch.Tensor:
    """BCE of `head` (S*D -> 1 logit) telling shuffled from ordered segment features (B,S,D)."""
    shuffled, labels = shuffle_segments(features, p, generator)
    logits = head(rearrange(shuffled, "b s d -> b (s d)")).squeeze(1)
    return F.binary_cross_entropy_with_logits(logits.float(), labels)


class TemporalOrderTerm(Term):
    """weight * mean over the online views of the order BCE; head Linear(S*D, D)-ReLU-Linear(D, 1)
    (no BN, so any batch size works)."""

    def __init__(self, in_dim: int, segments: int, weight: float = 1.0, shuffle_p: float = 0.5) -> None:
        super().__init__()
        self.segments, self.weight, self.shuffle_p = segments, weight, shuffle_p
        self.head = nn.Sequential(nn.Linear(segments * in_dim, in_dim), nn.ReLU(inplace=True), nn.Linear(in_dim, 1))

    def forward(self, inputs: TermInputs) -> torch.Tensor:
        features = list(inputs.features) or [encode_clips(inputs.backbone, v) for v in inputs.views[:2]]
        for f in features:
            if f.dim() != 3 or f.shape[1] != self.segments:
                raise ValueError(f"the order term needs views (B,{self.segments},3,T,H,W) (method.vclr.segments), got features {tuple(f.shape)}")
        return self.weight * torch.stack([order_loss(self.head, f, self.shuffle_p, inputs.generator) for f in features]).mean()

    def extra_repr(self) -> str:
        return f"segments={self.segments}, weight={self.weight}, shuffle_p={self.shuffle_p}"


@register_term("vclr_order")
def build_order_term(backbone: VideoBackbone, method_cfg) -> Optional[TemporalOrderTerm]:
    """`method.vclr`: the order term when segments > 0 and order_weight > 0."""
    vclr = method_cfg.vclr
    return TemporalOrderTerm(backbone.num_features, vclr.segments, vclr.order_weight) if vclr.segments > 0 and vclr.order_weight > 0 else None
