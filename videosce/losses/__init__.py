from .byol import byol_loss
from .sce import SCELoss, infonce_loss, sce_loss
from .simclr import nt_xent_loss

__all__ = ["SCELoss", "byol_loss", "infonce_loss", "nt_xent_loss", "sce_loss"]
