"""The negatives of the queue methods (SCE, MoCo, ReSSL): the FIFO of past target keys, their ages,
in-batch keys and MoCHi's synthetic negatives, composed into a `Negatives` bundle per (q, k) pair.

The options (each off by default; how each acts in the loss: videosce/losses/sce.py):
* use_keys (SCE reference code): every rank's batch keys join the queue as negatives; each query's
  own key is marked (`Negatives.own`) so that the loss masks it.
* track_ages: the queue counts the optimizer steps each key has spent in it, for VideoMoCo's decay.
* mochi: per query, synthetic negatives mixed from its hardest queue keys (from `mochi.start` of
  training on), drawn from the generator the method passes.
"""
from __future__ import annotations

from typing import NamedTuple, Optional

import torch
import torch.nn.functional as F
from torch import nn

from videosce.losses.negatives import Negatives, mochi_negatives
from videosce.models.momentum import KeyQueue
from videosce.utils.dist import concat_all_gather, get_rank, get_world_size


class MochiOptions(NamedTuple):
    """MoCHi's N (hardest negatives per query), s (pair mixes), s' (query mixes), and the fraction
    of training after which mixing starts (the paper also tries starting late)."""

    num_hard: int
    num_mix: int
    num_mix_query: int
    start: float = 0.0


class QueueNegatives(nn.Module):
    """Owns the key queue (`queue`, saved with the method); called per (q, k) pair, then `push`ed the
    keys of the step, and `tick`ed after each optimizer step."""

    def __init__(self, size: int, dim: int, *, use_keys: bool = False, track_ages: bool = False, mochi: Optional[MochiOptions] = None) -> None:
        super().__init__()
        self.queue = KeyQueue(size, dim, track_ages)
        self.use_keys, self.mochi = use_keys, mochi

    def forward(self, q: torch.Tensor, k: torch.Tensor, progress: float, generator: Optional[torch.Generator] = None) -> Negatives:
        """The negatives of queries q (B,D) whose positives are the keys k (B,D), at `progress` = step / max_steps."""
        queue, ages, own = self.queue.keys.clone(), self.queue.ages, None
        keys = queue
        if self.use_keys:
            batch = F.normalize(concat_all_gather(k.float()), dim=1)
            own = queue.shape[0] + get_rank() * k.shape[0] + torch.arange(k.shape[0], device=k.device)
            keys = torch.cat([queue, batch])
            ages = None if ages is None else torch.cat([ages, ages.new_zeros(batch.shape[0])])
        synthetic = None
        if self.mochi is not None and progress >= self.mochi.start:  # from the queue only; never enqueued
            synthetic = mochi_negatives(q, queue, self.mochi.num_hard, self.mochi.num_mix, self.mochi.num_mix_query, generator, get_rank(), get_world_size())
        return Negatives(keys, ages, own, synthetic)

    @torch.no_grad()
    def push(self, keys: torch.Tensor) -> None:
        """Enqueue the keys (N,D) of this step, gathered from every rank; L2-normalised here."""
        self.queue.enqueue(F.normalize(keys.float(), dim=1))

    def tick(self) -> None:
        """One optimizer step has passed (queue ages +1)."""
        self.queue.tick()

    def extra_repr(self) -> str:
        return f"use_keys={self.use_keys}, mochi={self.mochi}"
