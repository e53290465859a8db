"""Region-level pieces as pure functions: SCFS's feature search (Song et al., ICCV 2023) and DenseCL's
dense correspondence and loss (Wang et al., CVPR 2021), for video feature maps (B,C,T,H,W).

Video case: a "position" is a spatio-temporal cell (t, h, w) of a 3D feature map. Both the search
and the correspondence look over all T*H*W cells at once, time included: the clip being matched
(a local clip, the other global view) is usually drawn at another moment of the video, so the
same actor or object may appear at any time step of the other map.
"""
from __future__ import annotations

from typing import Union

import torch
import torch.nn.functional as F
from einops import rearrange

from .negatives import Negatives
from .sce import sce_loss


def attention_map(query: torch.Tensor, fmap: torch.Tensor) -> torch.Tensor:
    """SCFS's attention: cosine of the query vector (B,C) with the feature of every cell of fmap
    (B,C,T,H,W) -> (B,T,H,W) in [-1, 1]. No softmax: the authors weight by the raw cosine."""
    return torch.einsum("bc,bcthw->bthw", F.normalize(query, dim=1), F.normalize(fmap, dim=1))


def searched_feature(fmap: torch.Tensor, attention: torch.Tensor) -> torch.Tensor:
    """SCFS's searched (semantics-consistent) feature map: fmap (B,C,T,H,W), unnormalised, weighted
    cell by cell by the attention (B,T,H,W)."""
    return fmap * attention.unsqueeze(1)


def dense_correspondence(online: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
    """DenseCL's positive pairs: for each cell of online (B,C,T,H,W), the index of the cell of target
    (B,C,T',H',W') whose feature has the highest cosine with it -> (B, T*H*W) into the flattened
    target cells (t', h', w' order). The paper matches backbone features, not projections."""
    q = F.normalize(rearrange(online, "b c t h w -> b (t h w) c"), dim=2)
    k = F.normalize(rearrange(target, "b c t h w -> b c (t h w)"), dim=1)
    return torch.bmm(q, k).argmax(dim=2)


def dense_loss(
    q_map: torch.Tensor,
    k_map: torch.Tensor,
    match: torch.Tensor,
    negatives: Union[torch.Tensor, Negatives],
    temp: float,
    temp_m: float = 0.05,
    coeff: float = 1.0,
) -> torch.Tensor:
    """DenseCL's dense term: every online cell of q_map (B,D,T,H,W) is a query, its positive the
    target cell `match` (B, T*H*W) of k_map (B,D,T',H',W'), its negatives the dense queue (K,D);
    `sce_loss` over the B*T*H*W queries, mean over them (cells weigh alike, as in the paper).
    coeff = 1 is the paper's InfoNCE; coeff < 1 adds SCE's relational soft target (at temp_m)."""
    q = rearrange(q_map, "b d t h w -> (b t h w) d")
    k = rearrange(k_map, "b d t h w -> b (t h w) d")
    k = torch.gather(k, 1, match.unsqueeze(-1).expand(-1, -1, k.shape[-1]))
    return sce_loss(q, rearrange(k, "b p d -> (b p) d"), negatives, temp, temp_m, coeff)
