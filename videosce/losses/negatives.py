"""Negatives beyond a plain queue, as pure functions: the `Negatives` bundle a query is contrasted
against, VideoMoCo's temporal decay, MoCHi's synthetic negatives and the hard-negative estimator of
Robinson et al. `losses/sce.py` combines them into the generalised SCE loss and explains how each
acts there.
"""
from __future__ import annotations

import math
from typing import NamedTuple, Optional

import torch
import torch.nn.functional as F

from videosce.choices import DecayMode


class Negatives(NamedTuple):
    """What each query is contrasted against besides its positive.

    keys (M,D) shared negatives: the queue, then (with use_keys) the gathered batch keys;
    ages (M,) steps each key has spent in the queue (0 for batch keys), None = no decay;
    own (B,) the column of each query's own key in `keys` (use_keys), None = none;
    synthetic (B,S,D) per-query MoCHi negatives, None = none.
    """

    keys: torch.Tensor
    ages: Optional[torch.Tensor] = None
    own: Optional[torch.Tensor] = None
    synthetic: Optional[torch.Tensor] = None


def temporal_decay(logits: torch.Tensor, ages: torch.Tensor, t: float, mode: str = DecayMode.similarity) -> torch.Tensor:
    """Down-weight old queue keys (VideoMoCo): logits (B,M) of the negatives, ages (M,) in steps.

    "similarity": logit * t^age (the authors' code multiplies each key by t^age before q . u);
    "weight": logit + age * log t, i.e. t^age * exp(logit) in the softmax denominator.
    Old keys were made by an older target encoder, so they count less than fresh ones.
    """
    ages = ages.to(logits.dtype)
    if mode == DecayMode.similarity:
        return logits * torch.exp(ages * math.log(t))
    if mode == DecayMode.weight:
        return logits + ages * math.log(t)
    raise ValueError(f"temporal decay mode must be one of {', '.join(DecayMode.values())}, got {mode!r}")


def mix_negatives(
    q: torch.Tensor, hardest: torch.Tensor, pairs: torch.Tensor, alpha: torch.Tensor, picks: torch.Tensor, beta: torch.Tensor
) -> torch.Tensor:
    """MoCHi's synthetic negatives from given draws -> (B, s+s', D), unit norm.

    q (B,D) queries, hardest (B,N,D) each query's hardest negatives; pairs (B,s,2) and alpha (B,s):
    h = normalize(alpha n_a + (1 - alpha) n_b); picks (B,s') and beta (B,s'): h' = normalize(beta q +
    (1 - beta) n_p). Kept separate from the sampling so the mixing is testable with fixed draws.
    """
    take = lambda idx: torch.gather(hardest, 1, idx.unsqueeze(-1).expand(*idx.shape, hardest.shape[-1]))
    a = alpha.unsqueeze(-1)
    mixed = a * take(pairs[..., 0]) + (1 - a) * take(pairs[..., 1])
    b = beta.unsqueeze(-1)
    with_query = b * q.unsqueeze(1) + (1 - b) * take(picks)
    return F.normalize(torch.cat([mixed, with_query], dim=1), dim=-1)


def mochi_negatives(
    q: torch.Tensor,
    keys: torch.Tensor,
    num_hard: int,
    num_mix: int,
    num_mix_query: int,
    generator: Optional[torch.Generator] = None,
    rank: int = 0,
    world_size: int = 1,
) -> torch.Tensor:
    """Hard negative mixing (Kalantidis et al., NeurIPS 2020) -> (B, num_mix + num_mix_query, D).

    Per query, the `num_hard` keys most similar to it are its hardest negatives; `num_mix` synthetic
    negatives mix a random pair of them (alpha ~ U(0,1)), `num_mix_query` mix the query with one of
    them (beta ~ U(0, 0.5), so the query never dominates). Harder negatives than the queue holds,
    at the cost of a few dot products. Built from detached features: no gradient flows into them.
    The draws come from `generator` (a CPU one; None = torch's global CPU generator), so they do not
    depend on the device the features live on. Each rank draws the whole global batch's numbers
    (world_size * B rows, from a generator seeded alike on every rank) and keeps its own rows: the
    queries of rank r get what rows rB..rB+B-1 get in one process with the same global batch.
    """
    q = F.normalize(q.detach().float(), dim=1)
    keys = F.normalize(keys.detach().float(), dim=1)
    batch, n = q.shape[0], min(num_hard, keys.shape[0])
    hardest = keys[(q @ keys.t()).topk(n, dim=1).indices]
    rows, total = slice(rank * batch, (rank + 1) * batch), world_size * batch
    pairs = torch.randint(n, (total, num_mix, 2), generator=generator)[rows]
    alpha = torch.rand(total, num_mix, generator=generator)[rows]
    picks = torch.randint(n, (total, num_mix_query), generator=generator)[rows]
    beta = 0.5 * torch.rand(total, num_mix_query, generator=generator)[rows]
    return mix_negatives(q, hardest, *(x.to(q.device) for x in (pairs, alpha, picks, beta)))


def hard_negative_loss(logits: torch.Tensor, temp: float, beta: float = 0.0, tau_plus: float = 0.0) -> torch.Tensor:
    """Per-query hard-negative, debiased contrastive loss (Robinson et al., ICLR 2021) -> (B,).

    logits (B, 1+N') = [positive, negatives] / temp, excluded negatives -inf (not counted in N).
    With pos = e^{l_0}, neg_j = e^{l_j} and importance weights imp_j = e^{beta l_j} (beta on the
    temperature-scaled logits, as in the authors' code), over the N valid negatives:
        Ng = max((sum_j imp_j neg_j / mean_j imp_j - tau_plus * N * pos) / (1 - tau_plus), N e^{-1/temp})
        loss = -log(pos / (pos + Ng))
    beta = 0 is the debiased loss of Chuang et al. (2020); beta = 0 and tau_plus = 0 is InfoNCE
    (the clamp cannot bind: every neg_j >= e^{-1/temp} for unit vectors). Hard negatives (large
    q.u) weigh more; tau_plus removes the expected share of same-class "negatives". Computed in
    log space shifted by the row maximum so large beta / small temp do not overflow.
    """
    positive, negative = logits[:, 0], logits[:, 1:]
    valid = torch.isfinite(negative)
    count = valid.sum(dim=1).to(logits.dtype)
    shift = logits.max(dim=1).values.detach()
    negative, positive = negative - shift[:, None], positive - shift
    minus_inf = torch.full_like(negative, float("-inf"))
    log_reweighted = (
        torch.logsumexp(torch.where(valid, (1 + beta) * negative, minus_inf), dim=1)
        - torch.logsumexp(torch.where(valid, beta * negative, minus_inf), dim=1)
        + torch.log(count)
    )
    estimate = (log_reweighted.exp() - tau_plus * count * positive.exp()) / (1 - tau_plus)
    estimate = torch.maximum(estimate, count * torch.exp(-1.0 / temp - shift))
    return -positive + torch.log(positive.exp() + estimate)
