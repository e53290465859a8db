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


# ---- a queue longer than one epoch: one warning line at the start of pretraining


def test_keys_per_epoch_by_hand():
    from videosce.methods.momentum import keys_per_epoch

    # UCF101 split 1: 9537 train videos on 8 ranks -> 1192 per rank -> 18 steps of 64 -> 9216 videos x 2 views
    assert keys_per_epoch(9537, 64, 8, 1, sym=True) == 18432
    # 2 accumulated batches of 32: 1192 // 64 = 18 steps of 64 videos per rank; one view's keys without sym
    assert keys_per_epoch(9537, 32, 8, 2, sym=False) == 9216


def test_queue_warning_is_one_line_naming_both_numbers(caplog):
    import logging

    from videosce.methods.momentum import warn_if_queue_exceeds_epoch

    with caplog.at_level(logging.WARNING):
        assert not warn_if_queue_exceeds_epoch(16384, 18432)
        assert warn_if_queue_exceeds_epoch(65536, 18432)
    (record,) = caplog.records
    message = record.getMessage()
    assert "\n" not in message and "method.queue_size=65536" in message and "18432 keys" in message and "3.6 epochs" in message


def test_ucf101_recipe_queue_fits_in_one_epoch():
    from videosce.methods.momentum import keys_per_epoch

    cfg = load_config("ucf101_r3d18_sce", job="pretrain")
    t = cfg.trainer  # the recipe's 8 GPUs on UCF101 split 1 (9537 train videos)
    assert cfg.method.queue_size < keys_per_epoch(9537, t.batch_size, 8, t.accumulate_grad_batches, cfg.method.sym)


def test_pretraining_warns_when_the_queue_outlasts_an_epoch(demo_root, tmp_path, caplog):
    import logging

    from helpers import demo_data
    from videosce.jobs.pretrain import run as pretrain

    cfg = load_config(None, [*demo_data(demo_root), f"output_dir={tmp_path}", "model.backbone=r3d_tiny", "method.queue_size=4096",
                             "trainer.max_epochs=1", "trainer.batch_size=16", "trainer.progress_bar=false", "eval.retrieval_at_end=false"])
    with caplog.at_level(logging.WARNING):
        pretrain(cfg)
    warnings = [r.getMessage() for r in caplog.records if "method.queue_size=4096" in r.getMessage()]
    assert len(warnings) == 1
