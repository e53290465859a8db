"""Negatives beyond a plain queue, as pure functions: in-batch keys, temporal decay, MoCHi, HCL.

All of them act on one generalised SCE (Denize et al., 2023). For a query q_i with positive key
k_i and shared negatives u_1..u_M (the queue, then, with `use_keys`, the batch keys of every rank)
plus per-query synthetic negatives h_i1..h_iS (MoCHi):

  online logits  o_i = [q_i.k_i, d(q_i.u_1), ..., d(q_i.u_M), q_i.h_i1, ..., q_i.h_iS] / tau
  target logits  t_i = [k_i.u_1, ..., k_i.u_M] / tau_m, then -inf for every h_is
  excluded       the query's own key among the u_j (use_keys) is -inf in both
  loss           coeff * C(o_i) + (1 - coeff) * (-sum_j softmax(t_i)_j log softmax(o_i)_j)

where C is InfoNCE, -log softmax(o_i)_0, or the hard-negative estimator of Robinson et al. (below),
and d is the temporal decay of VideoMoCo (identity when off). With every option off this is
exactly `sce_loss` (the SCE target w = coeff * onehot + (1 - coeff) * s splits into these two
terms), coeff = 1 is MoCo's InfoNCE and coeff = 0 the relational (ReSSL-like) loss.

Interpretation choices, each explained where it is implemented:
* use_keys (SCE reference code): the own key is masked in the online softmax (it is already the
  positive) and in the target relations (k_i.k_i would dominate them).
* temporal decay (VideoMoCo, Pan et al. 2021): the authors' code scales each queue key by t^age
  before the dot product, i.e. the similarity inside the exponent: d(s) = t^age * s ("similarity",
  the default). The "weight" mode instead multiplies exp(logit) by t^age, i.e. adds age * log t to
  the logit. Only the online logits decay; the target relations describe the key's neighbours and
  stay undecayed. With t ~ 0.99999 and ages of a few hundred steps both are near the identity.
* MoCHi (Kalantidis et al. 2020): synthetic negatives sit only in the online denominator; their
  target weight is 0 (they are not samples the target could relate to), and they carry no gradient
  (built from detached features, like the queue keys they come from); never enqueued.
* HCL (Robinson et al. 2021) replaces the contrastive term C only; the relational term keeps the
  plain softmax, since the reweighted denominator is not a distribution over the columns.
"""
from __future__ import annotations

import math
from typing import NamedTuple, Optional, Tuple, Union

import torch
import torch.nn.functional as F
from torch import nn

DECAY_MODES = ("similarity", "weight")


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


class MochiOptions(NamedTuple):
    """MoCHi's N (hardest negatives per query), s (pair mixes), s' (query mixes), and the fraction
    of training after which mixing starts (the paper also tries starting late)."""

    num_hard: int
    num_mix: int
    num_mix_query: int
    start: float = 0.0


def temporal_decay(logits: torch.Tensor, ages: torch.Tensor, t: float, mode: str = "similarity") -> torch.Tensor:
    """Down-weight old queue keys (VideoMoCo): logits (B,M) of the negatives, ages (M,) in steps.

    "similarity": logit * t^age (the authors' code multiplies each key by t^age before q . u);
    "weight": logit + age * log t, i.e. t^age * exp(logit) in the softmax denominator.
    Old keys were made by an older target encoder, so they count less than fresh ones.
    """
    ages = ages.to(logits.dtype)
    if mode == "similarity":
        return logits * torch.exp(ages * math.log(t))
    if mode == "weight":
        return logits + ages * math.log(t)
    raise ValueError(f"temporal decay mode must be one of {DECAY_MODES}, got {mode!r}")


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
) -> torch.Tensor:
    """Hard negative mixing (Kalantidis et al., NeurIPS 2020) -> (B, num_mix + num_mix_query, D).

    Per query, the `num_hard` keys most similar to it are its hardest negatives; `num_mix` synthetic
    negatives mix a random pair of them (alpha ~ U(0,1)), `num_mix_query` mix the query with one of
    them (beta ~ U(0, 0.5), so the query never dominates). Harder negatives than the queue holds,
    at the cost of a few dot products. Built from detached features: no gradient flows into them.
    """
    q = F.normalize(q.detach().float(), dim=1)
    keys = F.normalize(keys.detach().float(), dim=1)
    batch, n = q.shape[0], min(num_hard, keys.shape[0])
    hardest = keys[(q @ keys.t()).topk(n, dim=1).indices]
    draw = dict(generator=generator, device=q.device)
    pairs = torch.randint(n, (batch, num_mix, 2), **draw)
    alpha = torch.rand(batch, num_mix, **draw)
    picks = torch.randint(n, (batch, num_mix_query), **draw)
    beta = 0.5 * torch.rand(batch, num_mix_query, **draw)
    return mix_negatives(q, hardest, pairs, alpha, picks, beta)


def contrastive_logits(
    q: torch.Tensor,
    k: torch.Tensor,
    negatives: Negatives,
    temp: float,
    temp_m: float,
    decay: float = 1.0,
    decay_mode: str = "similarity",
) -> Tuple[torch.Tensor, torch.Tensor]:
    """Online logits (B, 1+M+S), positive first, and target logits (B, M+S); excluded entries are -inf.

    q, k and the negatives are L2-normalised here; the target carries no gradient.
    """
    q, k = F.normalize(q.float(), dim=1), F.normalize(k.float(), dim=1)
    keys = F.normalize(negatives.keys.float(), dim=1)
    positive = (q * k).sum(dim=1, keepdim=True) / temp
    online = q @ keys.t() / temp
    if negatives.ages is not None and decay < 1.0:
        online = temporal_decay(online, negatives.ages, decay, decay_mode)
    with torch.no_grad():
        target = k @ keys.t() / temp_m
    if negatives.own is not None:
        own = F.one_hot(negatives.own, keys.shape[0]).bool()
        online, target = online.masked_fill(own, float("-inf")), target.masked_fill(own, float("-inf"))
    if negatives.synthetic is not None:
        synthetic = F.normalize(negatives.synthetic.float(), dim=-1)
        online = torch.cat([online, torch.einsum("bd,bsd->bs", q, synthetic) / temp], dim=1)
        target = torch.cat([target, target.new_full(synthetic.shape[:2], float("-inf"))], dim=1)
    return torch.cat([positive, online], dim=1), target


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


def soft_contrastive_loss(
    online: torch.Tensor,
    target: torch.Tensor,
    coeff: float,
    temp: float,
    beta: float = 0.0,
    tau_plus: float = 0.0,
) -> torch.Tensor:
    """coeff * C + (1 - coeff) * relational cross-entropy, mean over the batch (SCE, generalised).

    online (B, 1+M') and target (B, M') from `contrastive_logits`. C is InfoNCE, or the HCL estimator
    when beta or tau_plus is non-zero; the relational term always uses the plain online softmax.
    """
    log_p = F.log_softmax(online, dim=1)
    if beta == 0 and tau_plus == 0:
        contrastive = -log_p[:, 0]
    else:
        contrastive = hard_negative_loss(online, temp, beta, tau_plus)
    relations = F.softmax(target, dim=1)
    relational = -torch.where(relations > 0, relations * log_p[:, 1:], torch.zeros_like(relations)).sum(dim=1)
    return (coeff * contrastive + (1.0 - coeff) * relational).mean()


class SoftContrastiveLoss(nn.Module):
    """SCE with the options above; `coeff` and `temp_m` may be changed between steps (warm-ups).

    Called as loss(q, k, negatives) with negatives a (K,D) queue or a `Negatives` bundle.
    """

    def __init__(
        self,
        temp: float = 0.1,
        temp_m: float = 0.05,
        coeff: float = 0.5,
        decay: float = 1.0,
        decay_mode: str = "similarity",
        beta: float = 0.0,
        tau_plus: float = 0.0,
    ) -> None:
        super().__init__()
        self.temp, self.temp_m, self.coeff = temp, temp_m, coeff
        self.decay, self.decay_mode, self.beta, self.tau_plus = decay, decay_mode, beta, tau_plus

    def forward(self, q: torch.Tensor, k: torch.Tensor, negatives: Union[torch.Tensor, Negatives]) -> torch.Tensor:
        if isinstance(negatives, torch.Tensor):
            negatives = Negatives(negatives)
        online, target = contrastive_logits(q, k, negatives, self.temp, self.temp_m, self.decay, self.decay_mode)
        return soft_contrastive_loss(online, target, self.coeff, self.temp, self.beta, self.tau_plus)

    def extra_repr(self) -> str:
        return (f"temp={self.temp}, temp_m={self.temp_m}, coeff={self.coeff}, decay={self.decay} ({self.decay_mode}), "
                f"beta={self.beta}, tau_plus={self.tau_plus}")
