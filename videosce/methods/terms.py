"""Auxiliary terms of the momentum methods: a registry of builders and the inputs a term receives.

A term is a module called as term(inputs) -> weighted scalar, added to the method's loss and logged
as `loss_<name>`. Its inputs are explicit (`TermInputs`), so a term never reaches into the method.
Adding a term = one file with `@register_term("name")` on a builder (in_dim, method_cfg) -> the
term, or None while its config leaves it off, plus the import line in `methods/__init__.py`.
"""
from __future__ import annotations

from typing import Callable, Dict, NamedTuple, Sequence

import torch
from torch import nn

from videosce.registry import Registry

TERMS = Registry("auxiliary term")
register_term = TERMS.register


class TermInputs(NamedTuple):
    """What a term sees of one forward of the method.

    views: the method's views, clips (B,3,T,H,W) or video-level views (B,S,3,T,H,W);
    features: the online backbone features of the views the method encoded, in order (views[0],
      and views[1] when the loss is symmetric): (B,D), or (B,S,D) per segment; a term encodes
      any other view itself;
    backbone: the online backbone, for the term's own inputs (shuffled clips, sub-clips);
    generator: the method's CPU generator, for every random draw (saved with the method).
    """

    views: Sequence[torch.Tensor]
    features: Sequence[torch.Tensor]
    backbone: Callable[[torch.Tensor], torch.Tensor]
    generator: torch.Generator


def build_terms(in_dim: int, method_cfg) -> Dict[str, nn.Module]:
    """The terms `method_cfg` turns on (none by default), by registered name, for a backbone of `in_dim` features."""
    terms = {name: TERMS.create(name, in_dim=in_dim, method_cfg=method_cfg) for name in TERMS.list()}
    return {name: term for name, term in terms.items() if term is not None}
