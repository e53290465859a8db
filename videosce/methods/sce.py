"""SCE and the two methods it contains: MoCo (lambda = 1) and ReSSL-style relational (lambda = 0)."""
from __future__ import annotations

from functools import partial
from typing import Any, Dict, Optional

from videosce.losses import MochiOptions, SoftContrastiveLoss, infonce_loss, sce_loss
from videosce.models import VideoBackbone
from videosce.models.momentum import SCESchedule
from videosce.models.heads import predictor, projector

from .auxiliary import build_aux_terms
from .base import register_method
from .momentum import MomentumMethod
from .vclr import build_vclr_terms


def negative_options(method_cfg, coeff: float) -> Dict[str, Any]:
    """MomentumMethod keywords for the warm-ups and negative options (videosce/losses/negatives.py):
    the generalised SCE loss at `coeff` plus use_keys / queue ages / MoCHi / schedule; {} when all are off."""
    m = method_cfg
    mix = m.mochi.num_mix > 0 or m.mochi.num_mix_query > 0
    warmup = m.coeff_warmup_fraction > 0 or m.temp_m_warmup_fraction > 0
    options = dict(
        use_keys=m.use_keys,
        track_ages=m.temporal_decay < 1,
        mochi=MochiOptions(m.mochi.num_hard, m.mochi.num_mix, m.mochi.num_mix_query, m.mochi.start_fraction) if mix else None,
        schedule=SCESchedule(coeff, m.temp_m, m.coeff_warmup_fraction, m.temp_m_start or m.temp_m, m.temp_m_warmup_fraction) if warmup else None,
    )
    hard = m.hard_negatives.beta > 0 or m.hard_negatives.tau_plus > 0
    if not (hard or any(options.values())):
        return {}
    loss = SoftContrastiveLoss(m.temp, m.temp_m, coeff, m.temporal_decay, m.temporal_decay_mode, m.hard_negatives.beta, m.hard_negatives.tau_plus)
    return dict(loss_fn=loss, **options)


def build_momentum_method(
    backbone: VideoBackbone, model_cfg, method_cfg, loss_fn, use_queue: bool = True, negatives: Optional[Dict[str, Any]] = None
) -> MomentumMethod:
    """Backbone + SCE's projector (+ predictor when `method.predictor`) + EMA target (+ queue)
    (+ the auxiliary terms `method.inter_intra` / `method.long_short` / `method.vclr` turn on);
    `negatives` (from `negative_options`) replaces `loss_fn` and adds the warm-up / negative options."""
    return MomentumMethod(
        backbone,
        projector(backbone.num_features, model_cfg.proj_hidden_dim, model_cfg.proj_dim),
        predictor(model_cfg.proj_dim, model_cfg.pred_hidden_dim) if method_cfg.predictor else None,
        **{"loss_fn": loss_fn, **(negatives or {})},
        key_dim=model_cfg.proj_dim,
        queue_size=method_cfg.queue_size if use_queue else None,
        momentum=method_cfg.momentum,
        sym=method_cfg.sym,
        aux_terms={**build_aux_terms(backbone.num_features, method_cfg), **build_vclr_terms(backbone.num_features, method_cfg.vclr)},
    )


@register_method("sce")
def build_sce(backbone: VideoBackbone, model_cfg, method_cfg) -> MomentumMethod:
    loss = partial(sce_loss, temp=method_cfg.temp, temp_m=method_cfg.temp_m, coeff=method_cfg.coeff)
    return build_momentum_method(backbone, model_cfg, method_cfg, loss, negatives=negative_options(method_cfg, method_cfg.coeff))


@register_method("moco")
def build_moco(backbone: VideoBackbone, model_cfg, method_cfg) -> MomentumMethod:
    """MoCo v2/v3-style InfoNCE against the queue: SCE at lambda = 1 (`method.coeff` is ignored)."""
    loss = partial(infonce_loss, temp=method_cfg.temp)
    return build_momentum_method(backbone, model_cfg, method_cfg, loss, negatives=negative_options(method_cfg, 1.0))


@register_method("ressl")
def build_ressl(backbone: VideoBackbone, model_cfg, method_cfg) -> MomentumMethod:
    """The purely relational loss: SCE at lambda = 0 (`method.coeff` is ignored)."""
    loss = partial(sce_loss, temp=method_cfg.temp, temp_m=method_cfg.temp_m, coeff=0.0)
    return build_momentum_method(backbone, model_cfg, method_cfg, loss, negatives=negative_options(method_cfg, 0.0))
