"""Warm-ups, use_keys, temporal decay, MoCHi and HCL against independent float64 loops of the papers' formulas."""
import math

import numpy as np
import pytest
import torch
import torch.nn.functional as F

from videosce.config import ConfigError, load_config
from videosce.losses import Negatives, SCELoss, hard_negative_loss, mix_negatives, mochi_negatives, sce_loss, temporal_decay
from videosce.losses import negatives as negatives_module
from videosce.methods import build_method
from videosce.models.momentum import KeyQueue
from videosce.schedules import SCESchedule, warmup_value

REQUIRED = ["data.video_root=v", "data.split_dir=s"]


def unit(x):
    return x / np.linalg.norm(x, axis=-1, keepdims=True)


def reference_hcl(logits, temp, beta, tau_plus):
    """Robinson et al. (2021) for one query, float64: logits = [positive, negatives] / temp."""
    pos, neg = math.exp(logits[0]), [math.exp(l) for l in logits[1:]]
    n = len(neg)
    imp = [math.exp(beta * l) for l in logits[1:]]
    reweighted = sum(i * e for i, e in zip(imp, neg)) / (sum(imp) / n)
    ng = max((-tau_plus * n * pos + reweighted) / (1 - tau_plus), n * math.exp(-1 / temp))
    return -math.log(pos / (pos + ng))


def reference_loss(q, k, queue, ages, batch_keys, synthetic, temp, temp_m, coeff, decay, mode, beta, tau_plus):
    """The generalised SCE of losses/sce.py, one query at a time, float64, no masks: excluded keys are skipped."""
    q, k, queue = unit(q.astype(np.float64)), unit(k.astype(np.float64)), unit(queue.astype(np.float64))
    total = 0.0
    for i in range(q.shape[0]):
        shared = [(u, age) for u, age in zip(queue, ages)]
        if batch_keys is not None:
            shared += [(u, 0) for j, u in enumerate(unit(batch_keys.astype(np.float64))) if j != i]
        online = [q[i] @ k[i] / temp]
        for u, age in shared:
            s = q[i] @ u / temp
            online.append(s * decay**age if mode == "similarity" else s + age * math.log(decay))
        extra = [] if synthetic is None else [q[i] @ h / temp for h in unit(synthetic[i].astype(np.float64))]
        online = np.array(online + extra)
        log_p = online - np.log(np.exp(online).sum())
        rel = np.exp(np.array([k[i] @ u / temp_m for u, _ in shared]))
        s = np.concatenate([rel / rel.sum(), np.zeros(len(extra))])  # synthetic negatives: target weight 0
        contrastive = reference_hcl(online, temp, beta, tau_plus) if (beta or tau_plus) else -log_p[0]
        total += coeff * contrastive + (1 - coeff) * -(s * log_p[1:]).sum()
    return total / q.shape[0]


def draw(seed, b=5, d=8, m=12, s=3):
    gen = torch.Generator().manual_seed(seed)
    q, k = torch.randn(b, d, generator=gen), torch.randn(b, d, generator=gen)
    queue, synthetic = torch.randn(m, d, generator=gen), torch.randn(b, s, d, generator=gen)
    ages = torch.randint(0, 5000, (m,), generator=gen)
    return q, k, queue, ages, synthetic


@pytest.mark.parametrize("coeff", [0.0, 0.4, 1.0])
@pytest.mark.parametrize("use_keys,decay,mode,mochi", [(False, 1.0, "similarity", False), (True, 1.0, "similarity", False),
                                                       (False, 0.9999, "similarity", False), (False, 0.9999, "weight", False),
                                                       (True, 0.9999, "weight", True)])
@pytest.mark.parametrize("beta,tau_plus", [(0.0, 0.0), (1.0, 0.1)])
def test_generalised_sce_matches_float64_reference(coeff, use_keys, decay, mode, mochi, beta, tau_plus):
    q, k, queue, ages, synthetic = draw(0)
    b, m = q.shape[0], queue.shape[0]
    keys, key_ages, own = queue, ages, None
    if use_keys:
        keys, key_ages = torch.cat([queue, k]), torch.cat([ages, torch.zeros(b, dtype=torch.long)])
        own = m + torch.arange(b)
    negatives = Negatives(keys, key_ages if decay < 1 else None, own, synthetic if mochi else None)
    loss = SCELoss(0.2, decay, mode, beta, tau_plus)
    got = loss(q, k, negatives, coeff=coeff, temp_m=0.07).item()
    want = reference_loss(q.numpy(), k.numpy(), queue.numpy(), ages.numpy() if decay < 1 else np.zeros(m),
                          k.numpy() if use_keys else None, synthetic.numpy() if mochi else None,
                          0.2, 0.07, coeff, decay, mode, beta, tau_plus)
    assert got == pytest.approx(want, rel=1e-5)


@pytest.mark.parametrize("coeff", [0.0, 0.3, 0.5, 1.0])
def test_inert_options_leave_plain_sce(coeff):
    """Queue ages with decay 1, and zero ages with decay < 1, leave the paper's plain SCE."""
    q, k, queue, ages, _ = draw(1)
    want = reference_loss(q.numpy(), k.numpy(), queue.numpy(), np.zeros(len(queue)), None, None, 0.1, 0.05, coeff, 1.0, "similarity", 0.0, 0.0)
    for negatives, decay in [(queue, 1.0), (Negatives(queue, ages), 1.0), (Negatives(queue, torch.zeros_like(ages)), 0.9)]:
        assert sce_loss(q, k, negatives, 0.1, 0.05, coeff, decay).item() == pytest.approx(want, rel=1e-5)


def logits_of(seed, temp, b=6, n=20):
    gen = torch.Generator().manual_seed(seed)
    q, k, u = (F.normalize(torch.randn(*shape, generator=gen), dim=-1) for shape in [(b, 8), (b, 8), (n, 8)])
    return torch.cat([(q * k).sum(1, keepdim=True), q @ u.t()], dim=1) / temp


def test_hcl_at_beta_and_tau_plus_zero_is_infonce():
    logits = logits_of(2, 0.1)
    want = F.cross_entropy(logits, torch.zeros(logits.shape[0], dtype=torch.long), reduction="none")
    assert torch.allclose(hard_negative_loss(logits, 0.1, 0.0, 0.0), want, rtol=1e-5)


@pytest.mark.parametrize("tau_plus", [0.05, 0.1, 0.3])
def test_hcl_at_beta_zero_is_the_debiased_loss(tau_plus):
    """Chuang et al. (2020): Ng = max((sum_j e^{l_j} - N tau+ e^{l_0}) / (1 - tau+), N e^{-1/t})."""
    temp, logits = 0.5, logits_of(3, 0.5).double()
    for row, got in zip(logits.tolist(), hard_negative_loss(logits.float(), temp, 0.0, tau_plus).tolist()):
        n, pos = len(row) - 1, math.exp(row[0])
        ng = max((sum(math.exp(l) for l in row[1:]) - n * tau_plus * pos) / (1 - tau_plus), n * math.exp(-1 / temp))
        assert got == pytest.approx(-math.log(pos / (pos + ng)), rel=1e-5)


@pytest.mark.parametrize("beta,tau_plus,temp", [(0.5, 0.1, 0.5), (1.0, 0.1, 0.2), (2.0, 0.0, 0.1), (1.0, 0.6, 0.5)])
def test_hcl_general_formula_and_clamp(beta, tau_plus, temp):
    logits = logits_of(4, temp)
    got = hard_negative_loss(logits, temp, beta, tau_plus)
    want = [reference_hcl(row, temp, beta, tau_plus) for row in logits.double().tolist()]
    assert got.tolist() == pytest.approx(want, rel=1e-5)


def test_hcl_clamp_binds_and_masked_negatives_are_not_counted():
    temp, tau_plus, beta = 0.5, 0.5, 1.0
    logits = torch.tensor([[2.0, -1.0, -1.2, -1.5, -1.9, -1.8, -2.0], [1.0, 0.5, -0.5, 0.0, -1.0, 1.5, -0.2]])
    rows = logits.double().tolist()
    n = logits.shape[1] - 1
    unclamped = [(-tau_plus * n * math.exp(r[0]) + sum(math.exp((1 + beta) * l) for l in r[1:]) * n / sum(math.exp(beta * l) for l in r[1:]))
                 / (1 - tau_plus) for r in rows]
    assert unclamped[0] < n * math.exp(-1 / temp) < unclamped[1]  # the clamp binds on the first row only
    assert hard_negative_loss(logits, temp, beta, tau_plus).tolist() == pytest.approx([reference_hcl(r, temp, beta, tau_plus) for r in rows], rel=1e-5)
    masked = logits.clone()
    masked[:, 5] = float("-inf")
    keep = [c for c in range(logits.shape[1]) if c != 5]
    assert torch.allclose(hard_negative_loss(masked, temp, beta, 0.1), hard_negative_loss(logits[:, keep], temp, beta, 0.1), rtol=1e-6)


def test_hcl_is_finite_for_large_beta_and_small_temperature():
    logits = logits_of(6, 0.05).requires_grad_(True)
    loss = hard_negative_loss(logits, 0.05, 50.0, 0.1).mean()
    loss.backward()
    assert torch.isfinite(loss) and torch.isfinite(logits.grad).all()


@pytest.mark.parametrize("mode", ["similarity", "weight"])
def test_temporal_decay_matches_loop(mode):
    gen = torch.Generator().manual_seed(7)
    logits, ages, t = torch.randn(3, 6, generator=gen).double(), torch.tensor([0, 1, 10, 100, 1000, 50000]), 0.99999
    got = temporal_decay(logits, ages, t, mode)
    for i in range(3):
        for j in range(6):
            s, a = logits[i, j].item(), ages[j].item()
            want = s * t**a if mode == "similarity" else math.log(t**a * math.exp(s))
            assert got[i, j].item() == pytest.approx(want, rel=1e-9)
    assert torch.equal(temporal_decay(logits, torch.zeros(6, dtype=torch.long), t, mode), logits)


def test_mix_negatives_matches_loop():
    gen = torch.Generator().manual_seed(8)
    q, hardest = torch.randn(2, 4, generator=gen), torch.randn(2, 5, 4, generator=gen)
    pairs, alpha = torch.randint(5, (2, 3, 2), generator=gen), torch.rand(2, 3, generator=gen)
    picks, beta = torch.randint(5, (2, 2), generator=gen), 0.5 * torch.rand(2, 2, generator=gen)
    got = mix_negatives(q.double(), hardest.double(), pairs, alpha.double(), picks, beta.double())
    for i in range(2):
        want = [unit(a * hardest[i, x].numpy() + (1 - a) * hardest[i, y].numpy()) for (x, y), a in zip(pairs[i].tolist(), alpha[i].tolist())]
        want += [unit(b * q[i].numpy() + (1 - b) * hardest[i, p].numpy()) for p, b in zip(picks[i].tolist(), beta[i].tolist())]
        assert np.allclose(got[i].numpy(), np.stack(want), atol=1e-6)


def test_mochi_mixes_the_hardest_negatives_with_query_weight_below_half():
    gen = torch.Generator().manual_seed(9)
    q, keys = F.normalize(torch.randn(4, 8, generator=gen), dim=1).requires_grad_(True), F.normalize(torch.randn(30, 8, generator=gen), dim=1)
    synthetic = mochi_negatives(q, keys, num_hard=1, num_mix=2, num_mix_query=3, generator=gen)
    assert synthetic.shape == (4, 5, 8) and not synthetic.requires_grad
    assert torch.allclose(synthetic.norm(dim=-1), torch.ones(4, 5))
    hardest = keys[(q.detach() @ keys.t()).argmax(dim=1)]
    assert torch.allclose(synthetic[:, :2], hardest[:, None].expand(4, 2, 8), atol=1e-6)  # a pair from N=1 is that key
    for i in range(4):
        basis = torch.stack([q[i].detach(), hardest[i]], dim=1).double()
        for h in synthetic[i, 2:]:
            coef = torch.linalg.lstsq(basis, h.double().unsqueeze(1)).solution.squeeze(1)
            assert torch.allclose(basis @ coef, h.double(), atol=1e-5)  # in span{q, n}
            assert 0 <= (coef[0] / coef.sum()).item() < 0.5  # the query's share
    top = (q.detach() @ keys.t()).topk(6, dim=1).indices
    for i, h in enumerate(mochi_negatives(q, keys, num_hard=6, num_mix=4, num_mix_query=0, generator=gen)):
        basis = keys[top[i]].t().double()
        coef = torch.linalg.lstsq(basis, h.double().t()).solution
        assert torch.allclose(basis @ coef, h.double().t(), atol=1e-5)  # mixes of the 6 hardest only
        assert (coef >= -1e-6).all()


def test_warmup_values_and_schedule():
    assert warmup_value(0.0, 0.2, 1.0, 0.5) == 1.0
    assert warmup_value(0.1, 0.2, 1.0, 0.5) == pytest.approx(0.75)
    assert warmup_value(0.2, 0.2, 1.0, 0.5) == 0.5 and warmup_value(0.9, 0.2, 1.0, 0.5) == 0.5
    assert warmup_value(0.05, 0.2, 0.07, 0.05, "cosine") == pytest.approx(0.07 + (0.05 - 0.07) * (1 - math.cos(math.pi / 4)) / 2)
    assert warmup_value(0.3, 0.0, 1.0, 0.5) == 0.5
    schedule = SCESchedule(coeff=0.5, temp_m=0.05, coeff_warmup=0.5, temp_m_start=0.1, temp_m_warmup=0.25)
    assert schedule.at(0.0) == {"coeff": 1.0, "temp_m": 0.1}
    assert schedule.at(0.125) == pytest.approx({"coeff": 0.875, "temp_m": 0.075})
    assert schedule.at(1.0) == {"coeff": 0.5, "temp_m": 0.05}
    assert SCESchedule(coeff=0.3, temp_m=0.04).at(0.0) == {"coeff": 0.3, "temp_m": 0.04}  # no warm-up: the final values throughout


def test_queue_ages_reset_at_enqueue_tick_per_step_and_are_saved():
    queue = KeyQueue(5, 2, track_ages=True)
    queue.enqueue(torch.ones(2, 2))
    queue.tick()
    queue.tick()
    queue.enqueue(torch.ones(2, 2))
    queue.tick()
    assert queue.ages.tolist() == [3, 3, 1, 1, 3]
    queue.enqueue(torch.ones(3, 2))  # wraps: slots 4, 0, 1
    assert queue.ages.tolist() == [0, 0, 1, 1, 0]
    queue.enqueue(torch.ones(6, 2))
    assert queue.ages.tolist() == [0] * 5
    assert "ages" in queue.state_dict() and "ages" not in KeyQueue(5, 2).state_dict()
    KeyQueue(5, 2).tick()  # no ages: nothing to do


def small(name="sce", **overrides):
    cfg = load_config(None, REQUIRED + ["model.backbone=r3d_tiny", "model.proj_hidden_dim=16", "model.proj_dim=8", "model.pred_hidden_dim=16",
                                        "method.queue_size=16", f"method.name={name}"] + [f"{k}={v}" for k, v in overrides.items()])
    return build_method(cfg.model, cfg.method)


ALL_ON = {"method.use_keys": True, "method.temporal_decay": 0.99999, "method.mochi.num_hard": 4, "method.mochi.num_mix": 3,
          "method.mochi.num_mix_query": 2, "method.hard_negatives.beta": 1.0, "method.hard_negatives.tau_plus": 0.1}


@pytest.mark.parametrize("name,extra", [("sce", {"method.coeff_warmup_fraction": 0.5, "method.temp_m_start": 0.07, "method.temp_m_warmup_fraction": 0.5}),
                                        ("moco", {})])
def test_every_option_on_trains_and_the_queue_gets_only_real_keys(name, extra):
    torch.manual_seed(0)
    model = small(name, **ALL_ON, **extra)
    views = [torch.randn(2, 3, 4, 24, 24) for _ in range(2)]
    enqueued = []
    queue = model.negatives.queue
    original = queue.enqueue
    queue.enqueue = lambda keys: (enqueued.append(keys.clone()), original(keys))[1]
    out = model(views, None)
    out["loss"].backward()
    assert torch.isfinite(out["loss"])
    assert all(p.grad is not None and torch.isfinite(p.grad).all() for p in model.backbone.parameters())
    assert len(enqueued) == 1 and enqueued[0].shape == (4, 8)  # 2 views x B keys, no synthetic negatives
    with torch.no_grad():
        expected = F.normalize(torch.cat([model.target(views[1]), model.target(views[0])]), dim=1)
    assert torch.allclose(enqueued[0], expected, atol=1e-5)
    assert queue.ages.tolist().count(0) == 16 and int(queue.ptr) == 4
    info = model.after_optimizer_step(5, 20)
    assert queue.ages[:4].tolist() == [1, 1, 1, 1]
    if name == "sce":
        assert info["coeff"] == pytest.approx(0.75) and info["temp_m"] == pytest.approx(0.07 - 0.02 * (1 - math.cos(math.pi / 2)) / 2)


def record_loss_args(model):
    """The keyword arguments of every call to the model's loss."""
    calls = []
    model.loss.register_forward_pre_hook(lambda module, args, kwargs: calls.append(kwargs), with_kwargs=True)
    return calls


def test_schedule_passes_coeff_to_the_loss_and_resumes_from_the_saved_progress():
    torch.manual_seed(0)
    model = small("sce", **{"method.coeff_warmup_fraction": 0.5})
    calls = record_loss_args(model)
    views = [torch.randn(2, 3, 4, 24, 24) for _ in range(2)]
    model(views)
    assert [c["coeff"] for c in calls] == [1.0, 1.0]  # both pairs of the symmetric loss
    model.after_optimizer_step(5, 20)
    model(views)
    assert calls[-1]["coeff"] == pytest.approx(0.75)
    fresh = small("sce", **{"method.coeff_warmup_fraction": 0.5})
    fresh_calls = record_loss_args(fresh)
    fresh.load_state_dict(model.state_dict())
    fresh(views)
    assert fresh_calls[-1]["coeff"] == pytest.approx(0.75)


def test_use_keys_negatives_mask_the_own_key():
    torch.manual_seed(0)
    model = small("sce", **{"method.use_keys": True})
    q, k = torch.randn(3, 8), torch.randn(3, 8)
    negatives = model.negatives(q, k, 0.0, model.generator)
    assert negatives.keys.shape == (19, 8) and negatives.own.tolist() == [16, 17, 18]
    assert torch.equal(negatives.keys[:16], model.negatives.queue.keys) and torch.allclose(negatives.keys[16:], F.normalize(k, dim=1))
    assert negatives.synthetic is None and negatives.ages is None


def test_mochi_starts_after_its_fraction():
    model = small("moco", **{"method.mochi.num_mix": 2, "method.mochi.start_fraction": 0.5})
    q, k = torch.randn(3, 8), torch.randn(3, 8)
    model.after_optimizer_step(9, 20)
    assert model.negatives(q, k, float(model.progress), model.generator).synthetic is None  # before the start: the bare queue
    model.after_optimizer_step(10, 20)
    assert model.negatives(q, k, float(model.progress), model.generator).synthetic.shape == (3, 2, 8)


def test_defaults_give_the_bare_queue_and_save_no_ages():
    model = small("sce")
    negatives = model.negatives(torch.randn(3, 8), torch.randn(3, 8), 0.0, model.generator)
    assert torch.equal(negatives.keys, model.negatives.queue.keys) and negatives[1:] == (None, None, None)
    assert not any(key.endswith("ages") for key in model.state_dict())


@pytest.mark.parametrize("override,key", [
    ("method.coeff_warmup_fraction=1.5", "method.coeff_warmup_fraction"),
    ("method.temp_m_start=0", "method.temp_m_start"),
    ("method.temp_m_warmup_fraction=-0.1", "method.temp_m_warmup_fraction"),
    ("method.temporal_decay=0", "method.temporal_decay"),
    ("method.temporal_decay_mode=linear", "method.temporal_decay_mode"),
    ("method.mochi.num_hard=0", "method.mochi.num_hard"),
    ("method.mochi.num_mix=-1", "method.mochi.num_mix"),
    ("method.mochi.num_mix_query=-1", "method.mochi.num_mix_query"),
    ("method.mochi.start_fraction=1", "method.mochi.start_fraction"),
    ("method.hard_negatives.beta=-1", "method.hard_negatives.beta"),
    ("method.hard_negatives.tau_plus=1", "method.hard_negatives.tau_plus"),
])
def test_bad_values_name_the_key_in_one_line(override, key):
    with pytest.raises(ConfigError) as info:
        load_config(None, REQUIRED + [override])
    assert key in str(info.value) and "\n" not in str(info.value)


@pytest.mark.parametrize("overrides,key", [
    (["method.name=byol", "method.use_keys=true"], "method.use_keys"),
    (["method.name=byol", "method.temporal_decay=0.9"], "method.temporal_decay"),
    (["method.name=byol", "method.mochi.num_mix=2"], "method.mochi.num_mix"),
    (["method.name=ressl", "method.hard_negatives.beta=1"], "method.hard_negatives.beta"),
    (["method.name=moco", "method.coeff_warmup_fraction=0.1"], "method.coeff_warmup_fraction"),
    (["method.name=moco", "method.temp_m_warmup_fraction=0.1"], "method.temp_m_warmup_fraction"),
])
def test_options_are_refused_for_methods_they_do_not_apply_to(overrides, key):
    with pytest.raises(ConfigError, match=key.replace(".", r"\.")):
        load_config(None, REQUIRED + overrides)


def test_decay_modes_are_one_enum_for_the_config_and_the_loss():
    """method.temporal_decay_mode is typed by the DecayMode the loss dispatches on: the config lists its members."""
    with pytest.raises(ConfigError, match=r"method\.temporal_decay_mode.*expected one of \[similarity, weight\]"):
        load_config(None, REQUIRED + ["method.temporal_decay_mode=linear"])
    mode = load_config(None, REQUIRED + ["method.temporal_decay_mode=weight"]).method.temporal_decay_mode
    assert mode is negatives_module.DecayMode.weight
    with pytest.raises(ValueError, match="must be one of similarity, weight"):
        negatives_module.temporal_decay(torch.zeros(1, 2), torch.zeros(2), 0.9, "linear")
