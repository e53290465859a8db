"""The random state of every rank, for a checkpoint, and the data loader's own generator.

A run draws random numbers from three places, and resume makes each one exact:
* the method's generator (MoCHi, the terms' shuffles): saved in the method's state_dict;
* the data: clips and augmentations are a function of (seed, epoch, video), the sampler's order of
  (seed, epoch), its position mid-epoch of the step (`ResumableSampler.skip`); the DataLoader's
  worker seeds come from `loader_generator` (seed, epoch, rank) instead of torch's global
  generator, so building a loader mid-epoch draws nothing from it;
* the global torch / numpy / Python generators of each rank, and its CUDA generator on a GPU
  (dropout, any library draw): `gather_rng_states` captures every rank's, `restore_rng_state`
  gives each rank back its own.
"""
from __future__ import annotations

import logging
import random
from typing import Dict

import numpy as np
import torch

from videosce.utils import dist

log = logging.getLogger(__name__)

RngStates = Dict[str, torch.Tensor]  # name -> (world size, ...) tensor, one row per rank


def _own_state(device: torch.device) -> RngStates:
    """This process's global torch / numpy / Python (and, on a GPU, CUDA) generator states as flat
    tensors (weights_only loadable)."""
    _, keys, pos, has_gauss, cached_gaussian = np.random.get_state()
    version, words, gauss_next = random.getstate()
    states = {
        "torch": torch.get_rng_state(),
        "numpy": torch.tensor([*keys.tolist(), pos, has_gauss], dtype=torch.int64),
        "numpy_gauss": torch.tensor([cached_gaussian], dtype=torch.float64),
        "python": torch.tensor([version, *words], dtype=torch.int64),
        "python_gauss": torch.tensor([gauss_next is not None, gauss_next or 0.0], dtype=torch.float64),
    }
    if device.type == "cuda":
        states["cuda"] = torch.cuda.get_rng_state(device)
    return states


def gather_rng_states(device: torch.device) -> RngStates:
    """Every rank's global generator states, stacked in rank order (a collective: every rank calls
    it; `device` is the one the process group communicates on)."""
    return {name: dist.concat_all_gather(state.unsqueeze(0).to(device)).cpu() for name, state in _own_state(device).items()}


def restore_rng_state(states: RngStates, device: torch.device) -> None:
    """Set this rank's global torch / numpy / Python (and CUDA) generators to its row of `states`. A run
    resumed on another number of ranks cannot replay the same draws: it warns, and rank r takes row
    r modulo the saved rows."""
    saved, rank = states["torch"].shape[0], dist.get_rank()
    if saved != dist.get_world_size():
        log.warning("the checkpoint holds the random state of %d ranks, this run has %d: the resumed run draws other random numbers "
                    "than the interrupted one would have", saved, dist.get_world_size())
    row = {name: state[rank % saved] for name, state in states.items()}
    torch.set_rng_state(row["torch"])
    numpy = row["numpy"].tolist()
    np.random.set_state(("MT19937", np.array(numpy[:624], dtype=np.uint32), numpy[624], numpy[625], float(row["numpy_gauss"])))
    python, (has_gauss_next, gauss_next) = row["python"].tolist(), row["python_gauss"].tolist()
    random.setstate((python[0], tuple(python[1:]), gauss_next if has_gauss_next else None))
    if device.type == "cuda" and "cuda" in row:
        torch.cuda.set_rng_state(row["cuda"], device)


def loader_generator(seed: int, epoch: int, rank: int) -> torch.Generator:
    """The DataLoader's generator for `epoch` on `rank`: its worker seeds are a function of (seed,
    epoch, rank), and creating the loader leaves torch's global generator untouched (a resumed run
    creates one more loader than the uninterrupted run)."""
    return torch.Generator().manual_seed(int(np.random.SeedSequence([seed, epoch, rank]).generate_state(1, np.uint64)[0] >> 1))
