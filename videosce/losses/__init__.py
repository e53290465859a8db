from .byol import byol_loss
from .negatives import Negatives, hard_negative_loss, mix_negatives, mochi_negatives, temporal_decay
from .sce import SCELoss, sce_logits, sce_loss
from .simclr import nt_xent_loss

__all__ = [
    "Negatives",
    "SCELoss",
    "byol_loss",
    "hard_negative_loss",
    "mix_negatives",
    "mochi_negatives",
    "nt_xent_loss",
    "sce_logits",
    "sce_loss",
    "temporal_decay",
]
