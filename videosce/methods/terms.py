"""Auxiliary terms of the momentum methods: a registry of builders and the inputs a term receives.

A term is a `Term` called as term(inputs) -> weighted scalar, added to the method's loss and logged
as `loss_<name>`. Its inputs are explicit (`TermInputs`), so a term never reaches into the method.
Adding a term = one file with `@register_term("name")` on a builder (backbone, method_cfg) -> the
term, or None while its config leaves it off, plus the import line in `methods/__init__.py`.
"""
from __future__ import annotations

from typing import Callable, Dict, Mapping, NamedTuple, Sequence, Tuple

import torch
from torch import nn

from videosce.models import VideoBackbone
from videosce.registry import Registry

TERMS = Registry("auxiliary term")
register_term = TERMS.register


Maps = Mapping[int, Mapping[str, torch.Tensor]]  # view index -> stage name -> feature map (B,C,T',H',W')


class TermInputs(NamedTuple):
    """What a term sees of one forward of the method.

    views: the method's views: the two global ones, clips (B,3,T,H,W) or video-level views
      (B,S,3,T,H,W), then the local clips (multi-crop), if any;
    features: the online backbone features of the global views the method encoded, in order
      (views[0], and views[1] when the loss is symmetric): (B,D), or (B,S,D) per segment; a term
      encodes any other view itself;
    backbone: the online backbone, for the term's own inputs (shuffled clips, sub-clips);
    generator: the method's CPU generator, for every random draw (saved with the method);
    pairs: the (online view, target view) index pairs of the method's global loss;
    online_maps / target_maps: view index -> the stage maps (`Term.stages` of every term) of each
      view the online branch (every view) / the EMA target (the target views of `pairs`) encoded;
      each view's dict is empty when no term names stages. Online maps carry gradients, target
      maps none.
    """

    views: Sequence[torch.Tensor]
    features: Sequence[torch.Tensor]
    backbone: Callable[[torch.Tensor], torch.Tensor]
    generator: torch.Generator
    pairs: Sequence[Tuple[int, int]] = ()
    online_maps: Maps = {}
    target_maps: Maps = {}


class Term(nn.Module):
    """Base of the auxiliary terms; the defaults suit a term that only adds its weighted value.

    stages: backbone stages whose maps the term reads from `TermInputs.online_maps` / `target_maps`
      (the method computes them in its own passes, once for all terms);
    global_scale: factor on the method's own loss (DenseCL's 1 - lambda), 1 for an added term;
    update_target(momentum): called after each optimizer step with the EMA momentum of the method's
      target, for terms that keep EMA copies of their heads.
    """

    stages: Tuple[str, ...] = ()
    global_scale: float = 1.0

    def update_target(self, momentum: float) -> None:
        """No target copies to move."""


def build_terms(backbone: VideoBackbone, method_cfg) -> Dict[str, Term]:
    """The terms `method_cfg` turns on (none by default), by registered name, for `backbone`."""
    terms = {name: TERMS.create(name, backbone=backbone, method_cfg=method_cfg) for name in TERMS.list()}
    return {name: term for name, term in terms.items() if term is not None}
