"""SCE and the two methods it contains: MoCo (lambda = 1) and ReSSL-style relational (lambda = 0)."""
from __future__ import annotations

from functools import partial

from videosce.losses import infonce_loss, sce_loss
from videosce.models import VideoBackbone
from videosce.models.heads import predictor, projector

from .base import register_method
from .momentum import MomentumMethod


def build_momentum_method(backbone: VideoBackbone, model_cfg, method_cfg, loss_fn, use_queue: bool = True) -> MomentumMethod:
    """Backbone + SCE's projector (+ predictor when `method.predictor`) + EMA target (+ queue)."""
    return MomentumMethod(
        backbone,
        projector(backbone.num_features, model_cfg.proj_hidden_dim, model_cfg.proj_dim),
        predictor(model_cfg.proj_dim, model_cfg.pred_hidden_dim) if method_cfg.predictor else None,
        loss_fn,
        key_dim=model_cfg.proj_dim,
        queue_size=method_cfg.queue_size if use_queue else None,
        momentum=method_cfg.momentum,
        sym=method_cfg.sym,
    )


@register_method("sce")
def build_sce(backbone: VideoBackbone, model_cfg, method_cfg) -> MomentumMethod:
    loss = partial(sce_loss, temp=method_cfg.temp, temp_m=method_cfg.temp_m, coeff=method_cfg.coeff)
    return build_momentum_method(backbone, model_cfg, method_cfg, loss)


@register_method("moco")
def build_moco(backbone: VideoBackbone, model_cfg, method_cfg) -> MomentumMethod:
    """MoCo v2/v3-style InfoNCE against the queue: SCE at lambda = 1 (`method.coeff` is ignored)."""
    return build_momentum_method(backbone, model_cfg, method_cfg, partial(infonce_loss, temp=method_cfg.temp))


@register_method("ressl")
def build_ressl(backbone: VideoBackbone, model_cfg, method_cfg) -> MomentumMethod:
    """The purely relational loss: SCE at lambda = 0 (`method.coeff` is ignored)."""
    loss = partial(sce_loss, temp=method_cfg.temp, temp_m=method_cfg.temp_m, coeff=0.0)
    return build_momentum_method(backbone, model_cfg, method_cfg, loss)
