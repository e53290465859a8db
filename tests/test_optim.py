import pytest
import torch
from torch import nn

from videosce.config import load_config
from videosce.engine.optim import LARS, build_optimizer, param_groups


def test_lars_step_matches_hand_computation():
    weight = nn.Parameter(torch.tensor([[3.0, 4.0]]))  # norm 5
    bias = nn.Parameter(torch.tensor([1.0]))
    weight.grad, bias.grad = torch.tensor([[0.6, 0.8]]), torch.tensor([0.5])  # grad norm 1
    groups = [{"params": [weight], "weight_decay": 0.1, "lars_exclude": False}, {"params": [bias], "weight_decay": 0.0, "lars_exclude": True}]
    LARS(groups, lr=0.5, momentum=0.9, trust_coefficient=0.001).step()
    update = torch.tensor([[0.6, 0.8]]) + 0.1 * torch.tensor([[3.0, 4.0]])  # g + wd * w, norm 1.5
    trust = 0.001 * 5.0 / update.norm()
    assert torch.allclose(weight, torch.tensor([[3.0, 4.0]]) - 0.5 * trust * update)
    assert torch.allclose(bias, torch.tensor([1.0 - 0.5 * 0.5]))  # excluded: plain SGD, no decay


def test_biases_and_norms_are_excluded_from_decay():
    model = nn.Sequential(nn.Linear(3, 4), nn.BatchNorm1d(4))
    decay, excluded = param_groups([model], 0.1)
    assert len(decay["params"]) == 1 and len(excluded["params"]) == 3 and excluded["weight_decay"] == 0.0


@pytest.mark.parametrize("name", ["sgd", "adamw", "lars"])
def test_build_each_optimizer(name):
    cfg = load_config(None, ["data.video_root=v", "data.split_dir=s", f"optim.name={name}"])
    optimizer = build_optimizer(nn.Linear(2, 2), cfg.optim)
    assert optimizer.param_groups[0]["lr"] == cfg.optim.lr
