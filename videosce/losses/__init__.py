from .byol import byol_loss
from .negatives import Negatives, hard_negative_loss, mix_negatives, mochi_negatives, temporal_decay
from .region import attention_map, dense_correspondence, dense_loss, searched_feature
from .sce import SCELoss, sce_logits, sce_loss
from .simclr import nt_xent_loss

__all__ = [
    "Negatives",
    "SCELoss",
    "attention_map",
    "byol_loss",
    "dense_correspondence",
    "dense_loss",
    "hard_negative_loss",
    "mix_negatives",
    "mochi_negatives",
    "nt_xent_loss",
    "sce_logits",
    "sce_loss",
    "searched_feature",
    "temporal_decay",
]
