from .sce import SCELoss, infonce_loss, sce_loss

__all__ = ["SCELoss", "infonce_loss", "sce_loss"]
