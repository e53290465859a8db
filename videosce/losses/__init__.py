from .byol import byol_loss
from .negatives import (
    MochiOptions,
    Negatives,
    SoftContrastiveLoss,
    contrastive_logits,
    hard_negative_loss,
    mix_negatives,
    mochi_negatives,
    soft_contrastive_loss,
    temporal_decay,
)
from .sce import SCELoss, infonce_loss, sce_loss
from .simclr import nt_xent_loss

__all__ = [
    "MochiOptions",
    "Negatives",
    "SCELoss",
    "SoftContrastiveLoss",
    "byol_loss",
    "contrastive_logits",
    "hard_negative_loss",
    "infonce_loss",
    "mix_negatives",
    "mochi_negatives",
    "nt_xent_loss",
    "sce_loss",
    "soft_contrastive_loss",
    "temporal_decay",
]
