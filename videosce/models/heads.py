"""Projector, predictor and classifier heads of the SCE recipe; the region-level heads (SCFS, DenseCL)."""
from __future__ import annotations

import torch
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


class StageHead(nn.Module):
    """SCFS's per-stage head, in 3D: a residual bottleneck (1x1x1 conv to `bottleneck_dim`, 3x3x3,
    1x1x1 back to C, BN after each, identity added, ReLU), global average pooling over (T,H,W), then
    Linear-BN-ReLU-Linear-BN to `out_dim`. Feature map (B,C,T,H,W) -> (B,out_dim)."""

    def __init__(self, in_dim: int, bottleneck_dim: int, hidden_dim: int, out_dim: int) -> None:
        super().__init__()
        self.bottleneck = nn.Sequential(
            nn.Conv3d(in_dim, bottleneck_dim, 1, bias=False),
            nn.BatchNorm3d(bottleneck_dim),
            nn.ReLU(inplace=True),
            nn.Conv3d(bottleneck_dim, bottleneck_dim, 3, padding=1, bias=False),
            nn.BatchNorm3d(bottleneck_dim),
            nn.ReLU(inplace=True),
            nn.Conv3d(bottleneck_dim, in_dim, 1, bias=False),
            nn.BatchNorm3d(in_dim),
        )
        self.mlp = nn.Sequential(
            nn.Linear(in_dim, hidden_dim), nn.BatchNorm1d(hidden_dim), nn.ReLU(inplace=True), nn.Linear(hidden_dim, out_dim), nn.BatchNorm1d(out_dim)
        )

    def forward(self, fmap: torch.Tensor) -> torch.Tensor:
        return self.mlp(torch.relu(self.bottleneck(fmap) + fmap).mean(dim=(2, 3, 4)))


def dense_projector(in_dim: int, hidden_dim: int, out_dim: int) -> nn.Sequential:
    """DenseCL's dense head in 3D: 1x1x1 conv, ReLU, 1x1x1 conv; (B,C,T,H,W) -> (B,out_dim,T,H,W)."""
    return nn.Sequential(nn.Conv3d(in_dim, hidden_dim, 1), nn.ReLU(inplace=True), nn.Conv3d(hidden_dim, out_dim, 1))
