"""Temporal auxiliary objectives as pure functions: clip chunking, shuffle-rank, temporal coherence,
long/short view decomposition.

Two papers, written down here as we implement them:

Inter-intra variant dual representations (Zhang et al., BMVC 2021, "DualVar"). A series head maps
a clip's pooled backbone feature to C unit vectors s_1..s_C (one slot per temporal chunk).
* shuffle-rank (intra-variance): the clip x is cut into C chunks along time and re-assembled in a
  random order pi, x~ = [x^(pi_1), ..., x^(pi_C)]. Slot j of x~ shows chunk pi_j, so its features
  are moved back ("calibrated"): s^_(pi_j) = s_j(x~). Over the 2C vectors u = [s(x'), s^] each
  u_r must be closer to its counterpart u_c(r) (same chunk, other clip) than to every other u_t:
      L_rank = mean_{r, t not in {r, c(r)}} softplus(min((u_r.u_t - u_r.u_c(r)) / theta, cap))
  (a smooth ranking hinge). The reference clip x' is x itself and the other view, weighted 1/2
  each (the authors' code pairs the shuffled clip with its own unshuffled copy and with another
  augmentation). `cap` = 5 is the authors' code's clamp of the exponent.
* temporal coherence: clips are compared through all their chunk slots,
      sim(x, y) = 1/C^2 sum_ij s_i(x).s_j(y) = m(x).m(y),  m = mean_i s_i (not re-normalised),
  inside SimCLR's NT-Xent over the 2B clips of two views (temperature tau_c).

Long/short view decomposition (Behrmann et al., ICCV 2021). An embedding z = [z_s, z_n] is split
into a stationary part z_s (first `stationary_dim` dims) and a non-stationary part z_n (the rest).
From a long view L and its N consecutive short sub-views S_1..S_N:
* stationary: z_s(S_k) and z_s(L) are a positive pair (InfoNCE, other videos' long / short views
  are the negatives), averaged over k and both directions;
* non-stationary: the short views' z_n, aggregated in temporal order by g (a linear layer on their
  concatenation; the paper's "aggregate the short views"), form the positive of z_n(L):
  InfoNCE between g(z_n(S_1), ..., z_n(S_N)) and z_n(L), both directions.
The decomposition loss is L_stat + L_nonstat.
"""
from __future__ import annotations

from typing import Optional

import torch
import torch.nn.functional as F
from einops import rearrange

from videosce.utils.dist import gather_with_grad

RANK_CAP = 5.0  # DualVar's clamp on (u_r.u_t - u_r.u_c) / theta before the softplus


def chunk_length(frames: int, chunks: int) -> int:
    """Frames per chunk when `frames` are cut into `chunks` equal parts (a remainder is dropped)."""
    if chunks < 1 or frames < chunks:
        raise ValueError(f"cannot cut a clip of {frames} frames into {chunks} chunks")
    return frames // chunks


def split_time(clips: torch.Tensor, chunks: int) -> torch.Tensor:
    """(B,3,T,H,W) -> (B,C,3,L,H,W): C consecutive chunks of L = T // C frames (trailing T % C frames dropped)."""
    length = chunk_length(clips.shape[2], chunks)
    return rearrange(clips[:, :, : chunks * length], "b c (n l) h w -> b n c l h w", n=chunks)


def shuffle_chunks(clips: torch.Tensor, perm: torch.Tensor) -> torch.Tensor:
    """(B,3,T,H,W), perm (B,C) -> (B,3,C*L,H,W) whose chunk j is chunk perm[b, j] of clip b."""
    chunks = split_time(clips, perm.shape[1])
    index = rearrange(perm, "b n -> b n 1 1 1 1").expand_as(chunks)
    return rearrange(torch.gather(chunks, 1, index), "b n c l h w -> b c (n l) h w")


def unshuffle_slots(slots: torch.Tensor, perm: torch.Tensor) -> torch.Tensor:
    """(B,C,d) slot features of shuffled clips -> calibrated (B,C,d) with out[b, perm[b, j]] = slots[b, j]."""
    index = perm.unsqueeze(-1).expand_as(slots)
    return torch.empty_like(slots).scatter(1, index, slots)


def shuffle_rank_loss(
    reference: torch.Tensor, calibrated: torch.Tensor, temp: float = 0.05, cap: Optional[float] = RANK_CAP
) -> torch.Tensor:
    """DualVar's ranking loss: each of the 2C slot vectors ranks its counterpart above the 2C - 2 others.

    reference, calibrated (B,C,d) slot features (L2-normalised here); slot i of both describes chunk i.
    """
    u = F.normalize(torch.cat([reference, calibrated], dim=1).float(), dim=-1)  # (B,2C,d)
    chunks = reference.shape[1]
    sim = u @ u.transpose(1, 2)  # (B,2C,2C)
    rows = torch.arange(2 * chunks, device=u.device)
    partner = (rows + chunks) % (2 * chunks)
    positive = sim[:, rows, partner].unsqueeze(-1)  # (B,2C,1)
    others = torch.ones(2 * chunks, 2 * chunks, dtype=torch.bool, device=u.device)
    others[rows, rows] = False
    others[rows, partner] = False
    margins = (sim - positive)[:, others] / temp
    return F.softplus(margins.clamp(max=cap) if cap is not None else margins).mean()


def temporal_coherent_loss(
    series_a: torch.Tensor, series_b: torch.Tensor, temp: float = 0.07, rank: int = 0, world_size: int = 1
) -> torch.Tensor:
    """NT-Xent over two views whose similarity is the mean cosine over all C x C chunk-slot pairs.

    series_a, series_b (B,C,d): this rank's two views (L2-normalised per slot here); negatives are
    all 2N clips of all ranks but self, gathered with their gradient as in `nt_xent_loss`.
    """
    m_a = F.normalize(series_a.float(), dim=-1).mean(dim=1)
    m_b = F.normalize(series_b.float(), dim=-1).mean(dim=1)
    all_a, all_b = (gather_with_grad(m_a), gather_with_grad(m_b)) if world_size > 1 else (m_a, m_b)
    batch, total = m_a.shape[0], all_a.shape[0]
    candidates = torch.cat([all_a, all_b])
    local = torch.arange(batch, device=m_a.device) + rank * batch
    logits_a, logits_b = m_a @ candidates.t() / temp, m_b @ candidates.t() / temp
    logits_a[torch.arange(batch), local] = float("-inf")
    logits_b[torch.arange(batch), local + total] = float("-inf")
    return (F.cross_entropy(logits_a, local + total) + F.cross_entropy(logits_b, local)) / 2


def cross_view_infonce(
    q: torch.Tensor, k: torch.Tensor, temp: float = 0.1, rank: int = 0, world_size: int = 1
) -> torch.Tensor:
    """Symmetric InfoNCE between paired embeddings q_i <-> k_i (B,D), L2-normalised here; the other
    videos' embeddings of the other side (all ranks, with gradient) are the negatives."""
    q, k = F.normalize(q.float(), dim=1), F.normalize(k.float(), dim=1)
    all_q, all_k = (gather_with_grad(q), gather_with_grad(k)) if world_size > 1 else (q, k)
    target = torch.arange(q.shape[0], device=q.device) + rank * q.shape[0]
    return (F.cross_entropy(q @ all_k.t() / temp, target) + F.cross_entropy(k @ all_q.t() / temp, target)) / 2


def long_short_loss(
    long: torch.Tensor,
    short: torch.Tensor,
    aggregated: torch.Tensor,
    stationary_dim: int,
    temp: float = 0.1,
    rank: int = 0,
    world_size: int = 1,
) -> torch.Tensor:
    """L_stat + L_nonstat of the long/short decomposition.

    long (B,D) embedding of the long view; short (B,N,D) of its N short sub-views in temporal
    order; aggregated (B,D - stationary_dim) = g(non-stationary parts of the short views).
    """
    s = stationary_dim
    stationary = torch.stack(
        [cross_view_infonce(short[:, k, :s], long[:, :s], temp, rank, world_size) for k in range(short.shape[1])]
    ).mean()
    return stationary + cross_view_infonce(aggregated, long[:, s:], temp, rank, world_size)
