"""Similarity Contrastive Estimation (Denize et al., 2023), generalised, as one pure function.

For a query q_i with positive key k_i and shared negatives u_1..u_M (the queue, then, with
`use_keys`, the batch keys of every rank) plus per-query synthetic negatives h_i1..h_iS (MoCHi):

  online logits  o_i = [q_i.k_i, d(q_i.u_1), ..., d(q_i.u_M), q_i.h_i1, ..., q_i.h_iS] / tau
  target logits  t_i = [k_i.u_1, ..., k_i.u_M] / tau_m, then -inf for every h_is
  excluded       the query's own key among the u_j (use_keys) is -inf in both
  loss           coeff * C(o_i) + (1 - coeff) * (-sum_j softmax(t_i)_j log softmax(o_i)_j)

where C is InfoNCE, -log softmax(o_i)_0, or the hard-negative estimator of Robinson et al.
(`hard_negative_loss`), and d is the temporal decay of VideoMoCo (identity when off). With every
option off this is the paper's SCE: its target w = coeff * onehot + (1 - coeff) * s splits into
these two terms. coeff = 1 is MoCo's InfoNCE, coeff = 0 the relational loss of ReSSL; the methods
`moco` and `ressl` are this loss at those coefficients.

Interpretation choices, each explained here once (the pieces are in `losses/negatives.py`):
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

from typing import Tuple, Union

import torch
import torch.nn.functional as F
from torch import nn

from videosce.choices import DecayMode

from .negatives import Negatives, hard_negative_loss, temporal_decay


def sce_logits(
    q: torch.Tensor, k: torch.Tensor, negatives: Negatives, temp: float, temp_m: float, decay: float = 1.0, decay_mode: str = DecayMode.similarity
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


def sce_loss(
    q: torch.Tensor,
    k: torch.Tensor,
    negatives: Union[torch.Tensor, Negatives],
    temp: float = 0.1,
    temp_m: float = 0.05,
    coeff: float = 0.5,
    decay: float = 1.0,
    decay_mode: str = DecayMode.similarity,
    beta: float = 0.0,
    tau_plus: float = 0.0,
) -> torch.Tensor:
    """The generalised SCE loss above, mean over the batch.

    q (B,D) online predictions, k (B,D) target keys, negatives a (K,D) queue or a `Negatives`
    bundle. C is InfoNCE, or the HCL estimator when beta or tau_plus is non-zero.
    """
    if isinstance(negatives, torch.Tensor):
        negatives = Negatives(negatives)
    online, target = sce_logits(q, k, negatives, temp, temp_m, decay, decay_mode)
    log_p = F.log_softmax(online, dim=1)
    if beta == 0 and tau_plus == 0:
        contrastive = -log_p[:, 0]
    else:
        contrastive = hard_negative_loss(online, temp, beta, tau_plus)
    relations = F.softmax(target, dim=1)
    relational = -torch.where(relations > 0, relations * log_p[:, 1:], torch.zeros_like(relations)).sum(dim=1)
    return (coeff * contrastive + (1.0 - coeff) * relational).mean()


class SCELoss(nn.Module):
    """`sce_loss` with its fixed options; coeff and temp_m are arguments of each call, since SCE's
    warm-ups move them during training (videosce/schedules.py `SCESchedule`)."""

    def __init__(self, temp: float = 0.1, decay: float = 1.0, decay_mode: str = DecayMode.similarity, beta: float = 0.0, tau_plus: float = 0.0) -> None:
        super().__init__()
        self.temp, self.decay, self.decay_mode, self.beta, self.tau_plus = temp, decay, decay_mode, beta, tau_plus

    def forward(self, q: torch.Tensor, k: torch.Tensor, negatives: Union[torch.Tensor, Negatives], coeff: float, temp_m: float) -> torch.Tensor:
        return sce_loss(q, k, negatives, self.temp, temp_m, coeff, self.decay, self.decay_mode, self.beta, self.tau_plus)

    def extra_repr(self) -> str:
        return f"temp={self.temp}, decay={self.decay} ({self.decay_mode}), beta={self.beta}, tau_plus={self.tau_plus}"
