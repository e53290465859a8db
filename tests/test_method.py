import copy

import pytest
import torch

from videosce.config import load_config
from videosce.methods import METHODS, build_method
from videosce.models.momentum import KeyQueue, ema_update
from videosce.schedules import cosine_momentum


def small_method(name="sce", queue_size=16, seed=0, **overrides):
    cfg = load_config(None, ["data.video_root=v", "data.split_dir=s", "model.backbone=r3d_tiny", "model.proj_hidden_dim=32",
                             "model.proj_dim=8", "model.pred_hidden_dim=32", f"method.queue_size={queue_size}", f"method.name={name}"]
                      + [f"{k}={v}" for k, v in overrides.items()])
    return build_method(cfg.model, cfg.method, seed=seed)


small_sce = small_method


@pytest.mark.parametrize("name", METHODS.list())
def test_every_method_trains_one_step(name):
    torch.manual_seed(0)
    model = small_method(name)
    views = [torch.randn(4, 3, 4, 32, 32) for _ in range(2)]
    loss = model(views, None)["loss"]
    loss.backward()
    assert torch.isfinite(loss)
    grads = [p.grad for p in model.backbone.parameters()]
    assert all(g is not None and torch.isfinite(g).all() for g in grads)
    if hasattr(model, "after_optimizer_step"):
        model.after_optimizer_step(1, 10)


@pytest.mark.parametrize("name,coeff", [("moco", 1.0), ("ressl", 0.0)])
def test_moco_and_ressl_are_sce_at_the_extremes(name, coeff):
    views = [torch.randn(4, 3, 4, 32, 32) for _ in range(2)]
    torch.manual_seed(0)
    baseline = small_method(name)
    torch.manual_seed(0)
    sce = small_method("sce", **{"method.coeff": coeff})
    sce.load_state_dict(baseline.state_dict())
    assert baseline(views)["loss"].item() == pytest.approx(sce(views)["loss"].item(), rel=1e-6)


def test_forward_enqueues_both_views_and_only_online_gets_gradients():
    torch.manual_seed(0)
    model = small_sce()
    views = [torch.randn(4, 3, 4, 32, 32) for _ in range(2)]
    queue = model.negatives.queue
    before = queue.keys.clone()
    out = model(views, None)
    out["loss"].backward()
    assert torch.isfinite(out["loss"])
    assert int(queue.ptr) == 8 and not torch.equal(before[:8], queue.keys[:8])
    assert torch.equal(before[8:], queue.keys[8:])
    assert all(p.grad is not None for p in model.backbone.parameters())
    assert all(p.grad is None for p in model.target.backbone.parameters())


def test_queue_wraps_around_fifo():
    queue = KeyQueue(5, 2)
    for value in range(1, 5):
        queue.enqueue(torch.full((2, 2), float(value)))
    # writes: [1,1,2,2,3] then 3 -> slot 0, 4,4 -> slots 1,2 => [3,4,4,2,3]
    assert queue.keys[:, 0].tolist() == [3.0, 4.0, 4.0, 2.0, 3.0]
    assert int(queue.ptr) == 3


def test_ema_and_cosine_momentum():
    assert cosine_momentum(0, 100, 0.99) == 0.99
    assert abs(cosine_momentum(50, 100, 0.99) - 0.995) < 1e-12
    assert cosine_momentum(100, 100, 0.99) == 1.0
    online = torch.nn.Linear(2, 2)
    target = copy.deepcopy(online)
    with torch.no_grad():
        online.weight.add_(1.0)
    old = target.weight.clone()
    ema_update(target, online, 0.9)
    assert torch.allclose(target.weight, 0.9 * old + 0.1 * online.weight)


def test_momentum_schedule_moves_target():
    model = small_sce()
    with torch.no_grad():
        for p in model.backbone.parameters():
            p.add_(0.5)
    before = [p.clone() for p in model.target.backbone.parameters()]
    info = model.after_optimizer_step(1, 10)
    assert 0.99 < info["momentum"] < 1.0
    assert any(not torch.equal(a, b) for a, b in zip(before, model.target.backbone.parameters()))


RANDOM = {"method.mochi.num_mix": 3, "method.mochi.num_mix_query": 2, "method.inter_intra.rank_weight": 1.0}  # MoCHi + shuffled chunks


def test_state_dict_round_trip_restores_the_generator_so_the_next_draws_repeat():
    """Every random draw of a method comes from its generator, saved in its state_dict: a model loaded
    from a checkpoint takes the next step exactly as the saved one, a model without that state does not."""
    torch.manual_seed(0)
    views = [torch.randn(2, 3, 4, 24, 24) for _ in range(2)]
    model = small_method(seed=3, **RANDOM)
    model(views)  # the generator moves on
    state = model.state_dict()
    assert torch.equal(state["_extra_state"], model.generator.get_state())
    restored = small_method(seed=4, **RANDOM)
    restored.load_state_dict(state)
    unrestored = small_method(seed=4, **RANDOM)
    unrestored.load_state_dict({k: v for k, v in state.items() if k != "_extra_state"}, strict=False)
    expected = model(views)
    got = restored(views)
    assert all(torch.equal(got[k], expected[k]) for k in expected)
    assert torch.equal(restored.generator.get_state(), model.generator.get_state())
    assert unrestored(views)["loss"].item() != pytest.approx(expected["loss"].item(), rel=1e-4)


def test_the_seed_fixes_the_draws():
    torch.manual_seed(0)
    views = [torch.randn(2, 3, 4, 24, 24) for _ in range(2)]
    a, b, c = (small_method(seed=s, **RANDOM) for s in (5, 5, 6))
    weights = {k: v for k, v in a.state_dict().items() if k != "_extra_state"}
    for model in (b, c):
        model.load_state_dict(weights, strict=False)
    loss_a, loss_b, loss_c = (model(views)["loss"].item() for model in (a, b, c))
    assert loss_a == loss_b and loss_c != pytest.approx(loss_a, rel=1e-4)
