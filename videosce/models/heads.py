"""Projector, predictor and classifier heads of the SCE recipe."""
from __future__ import annotations

from torch import nn


def projector(in_dim: int, hidden_dim: int, out_dim: int) -> nn.Sequential:
    """3 linear layers, BN on every layer, the last BN non-affine (SCE's video projector)."""
    return nn.Sequential(
        nn.Linear(in_dim, hidden_dim, bias=False),
        nn.BatchNorm1d(hidden_dim),
        nn.ReLU(inplace=True),
        nn.Linear(hidden_dim, hidden_dim, bias=False),
        nn.BatchNorm1d(hidden_dim),
        nn.ReLU(inplace=True),
        nn.Linear(hidden_dim, out_dim, bias=False),
        nn.BatchNorm1d(out_dim, affine=False),
    )


def predictor(dim: int, hidden_dim: int) -> nn.Sequential:
    """2 linear layers with a BN hidden layer (dim-hidden-dim)."""
    return nn.Sequential(
        nn.Linear(dim, hidden_dim, bias=False),
        nn.BatchNorm1d(hidden_dim),
        nn.ReLU(inplace=True),
        nn.Linear(hidden_dim, dim),
    )


def classifier(in_dim: int, num_classes: int, dropout: float = 0.0) -> nn.Sequential:
    return nn.Sequential(nn.Dropout(dropout), nn.Linear(in_dim, num_classes))
