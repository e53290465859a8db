"""Region-level SSL: multi-crop local views, SCFS and DenseCL-3D. The pure functions against float64
loops written from the papers' definitions; the compositions against their parts; config rules;
one training step of each option on the demo data."""
import copy

import numpy as np
import pytest
import torch
from helpers import demo_data, train_dataset

from videosce.config import ConfigError, load_config
from videosce.data.datasets import read_index
from videosce.losses import Negatives, attention_map, dense_correspondence, dense_loss, sce_loss, searched_feature
from videosce.methods import build_method
from videosce.schedules import cosine_momentum

BASE = ["data.video_root=v", "data.split_dir=s", "model.backbone=r3d_tiny", "model.proj_hidden_dim=32", "model.proj_dim=8",
        "model.pred_hidden_dim=32", "method.queue_size=16"]
SCFS = ["data.local_views=2", "method.scfs.weight=0.5", "method.scfs.bottleneck_dim=8", "method.scfs.hidden_dim=32", "method.scfs.dim=16"]
DENSECL = ["method.densecl.weight=0.5", "method.densecl.hidden_dim=32", "method.densecl.dim=16"]
OPTIONS = {"multicrop": ["data.local_views=2"], "scfs": SCFS, "densecl": DENSECL, "densecl_soft": DENSECL + ["method.densecl.soft=true"],
           "scfs_infonce": SCFS + ["method.scfs.soft=false"], "all": SCFS + DENSECL}


def tiny_method(overrides, seed=0):
    cfg = load_config(None, BASE + list(overrides))
    torch.manual_seed(seed)
    return build_method(cfg.model, cfg.method, seed=seed)


def tiny_views(local=2, batch=4, seed=0):
    gen = torch.Generator().manual_seed(seed)
    return [torch.randn(batch, 3, 8, 24, 24, generator=gen) for _ in range(2)] + [torch.randn(batch, 3, 4, 16, 16, generator=gen) for _ in range(local)]


def unit(x):
    return x / np.linalg.norm(x, axis=-1, keepdims=True)


def cells(fmap):
    """(B,C,T,H,W) tensor -> float64 array (B, T*H*W, C), cells in (t, h, w) order."""
    x = fmap.double().numpy()
    return x.reshape(x.shape[0], x.shape[1], -1).transpose(0, 2, 1)


# ---- pure functions against float64 loops


def scaled_map(gen, shape):
    """Random cells with norms spread over 0.1..10, so a dot product and a cosine rank differently."""
    fmap = torch.randn(*shape, generator=gen, dtype=torch.float64)
    return (fmap * torch.exp(2.3 * (2 * torch.rand(shape[0], 1, *shape[2:], generator=gen, dtype=torch.float64) - 1))).float()


def test_attention_map_is_the_cosine_with_every_spatiotemporal_cell():
    gen = torch.Generator().manual_seed(0)
    query, fmap = torch.randn(2, 6, generator=gen) * 3.0, scaled_map(gen, (2, 6, 3, 4, 5))
    fmap[1, :, 2, 3, 4] = 7.0 * query[1]  # a cell pointing where the query points, at the last time step
    out = attention_map(query, fmap)
    assert out.shape == (2, 3, 4, 5)
    q, c = unit(query.double().numpy()), cells(fmap)
    expected = np.array([[q[b] @ c[b, i] / np.linalg.norm(c[b, i]) for i in range(60)] for b in range(2)]).reshape(2, 3, 4, 5)
    np.testing.assert_allclose(out.double().numpy(), expected, rtol=1e-5, atol=1e-6)  # float32 cosines
    assert out[1, 2, 3, 4].item() == pytest.approx(1.0, abs=1e-6)
    dots = np.einsum("bc,bic->bi", q, c).reshape(2, 3, 4, 5)
    assert np.abs(dots - expected).max() > 1.0  # an unnormalised map would fail the check above


def test_searched_feature_weights_each_cell_of_the_unnormalised_map():
    gen = torch.Generator().manual_seed(1)
    fmap, attention = scaled_map(gen, (2, 4, 2, 3, 3)), torch.rand(2, 2, 3, 3, generator=gen) * 2 - 1
    out = searched_feature(fmap, attention)
    expected = np.empty(fmap.shape)
    for b, t, h, w in np.ndindex(2, 2, 3, 3):
        expected[b, :, t, h, w] = fmap[b, :, t, h, w].double().numpy() * attention[b, t, h, w].item()
    np.testing.assert_allclose(out.double().numpy(), expected, rtol=1e-6)


def test_dense_correspondence_is_the_argmax_cosine_over_space_and_time():
    gen = torch.Generator().manual_seed(2)
    online, target = scaled_map(gen, (3, 5, 2, 3, 3)), scaled_map(gen, (3, 5, 4, 2, 2))
    match = dense_correspondence(online, target)
    assert match.shape == (3, 18) and match.dtype == torch.long
    q, k = cells(online), cells(target)
    cosine = np.einsum("bic,bjc->bij", unit(q), unit(k))
    assert match.numpy().tolist() == cosine.argmax(axis=2).tolist()
    assert (np.einsum("bic,bjc->bij", q, k).argmax(axis=2) != cosine.argmax(axis=2)).any()  # dot products pick otherwise


def test_dense_correspondence_recovers_a_spatiotemporal_permutation():
    """Target cells = the online cells shuffled across (t, h, w) and rescaled: the argmax undoes the shuffle."""
    gen = torch.Generator().manual_seed(3)
    online = torch.randn(2, 16, 2, 2, 3, generator=gen)
    perm = torch.randperm(12, generator=gen)
    flat = online.flatten(2)[:, :, perm] * torch.rand(2, 1, 12, generator=gen).add(0.5)
    match = dense_correspondence(online, flat.view(2, 16, 2, 2, 3))
    assert match.tolist() == [perm.argsort().tolist()] * 2


def dense_oracle(q_map, k_map, match, queue, temp, temp_m, coeff):
    """Float64 loop: every online cell i is a query, the matched target cell its positive, the queue its negatives."""
    q, k, u, match = unit(cells(q_map)), unit(cells(k_map)), unit(queue.double().numpy()), match.numpy()
    losses = []
    for b, i in np.ndindex(*q.shape[:2]):
        pos = k[b, match[b, i]]
        logits = np.concatenate([[q[b, i] @ pos], u @ q[b, i]]) / temp
        log_p = logits - np.log(np.exp(logits).sum())
        relations = np.exp(u @ pos / temp_m)
        relations /= relations.sum()
        losses.append(coeff * -log_p[0] + (1 - coeff) * -(relations * log_p[1:]).sum())
    return float(np.mean(losses))


@pytest.mark.parametrize("coeff,temp_m", [(1.0, 0.05), (0.5, 0.05), (0.0, 0.1)])
def test_dense_loss_matches_float64_oracle(coeff, temp_m):
    gen = torch.Generator().manual_seed(4)
    q_map, k_map, queue = torch.randn(2, 8, 1, 3, 2, generator=gen), torch.randn(2, 8, 2, 2, 2, generator=gen), torch.randn(10, 8, generator=gen)
    match = torch.randint(8, (2, 6), generator=gen)
    value = dense_loss(q_map, k_map, match, queue, temp=0.2, temp_m=temp_m, coeff=coeff)
    assert value.item() == pytest.approx(dense_oracle(q_map, k_map, match, queue, 0.2, temp_m, coeff), rel=1e-5)
    shifted = (match + 1) % 8  # the nearest wrong pairing: off by one cell
    assert value.item() != pytest.approx(dense_oracle(q_map, k_map, shifted, queue, 0.2, temp_m, coeff), rel=1e-3)


# ---- multi-crop: the averaged loss


@pytest.mark.parametrize("sym", [True, False])
def test_multicrop_loss_is_the_plain_mean_over_every_query_key_pair(sym):
    """2 + 2N pairs with sym (N + 1 without), each weighing the same; local queries from one backbone
    + head call; only the global keys are enqueued."""
    model = tiny_method([f"method.sym={str(sym).lower()}"])
    views = tiny_views(local=2)
    reference, queue = copy.deepcopy(model), model.negatives.queue.keys.clone()
    out = model(views)
    with torch.no_grad():
        targets = [1, 0] if sym else [1]
        keys = {b: reference.target(views[b]) for b in targets}
        glob = [(reference.head(reference.backbone(views[a])), keys[b]) for a, b in ([(0, 1), (1, 0)] if sym else [(0, 1)])]
        local = [(q, keys[b]) for q in reference.head(reference.backbone(torch.cat(views[2:]))).chunk(2) for b in targets]
        value = lambda pairs: [sce_loss(q, k, queue, 0.1, 0.05, 0.5).item() for q, k in pairs]  # noqa: E731
        expected = np.mean(value(glob + local))
    assert out["loss"].item() == pytest.approx(expected, rel=1e-5)
    assert abs(expected - (np.mean(value(glob)) + np.mean(value(local))) / 2) > 1e-3  # a mean of means would be told apart
    assert int(model.negatives.queue.ptr) == 4 * len(targets)


def test_local_views_get_gradients_and_the_target_never_sees_them():
    model = tiny_method([])
    calls = []
    model.target.backbone.register_forward_hook(lambda module, args, out: calls.append(tuple(args[0].shape)))
    views = tiny_views(local=3)
    views[2].requires_grad_(True)
    model(views)["loss"].backward()
    assert calls == [(4, 3, 8, 24, 24)] * 2 and views[2].grad is not None and views[2].grad.abs().sum() > 0


# ---- SCFS and DenseCL terms: their compositions


def test_scfs_term_is_the_search_of_views1_by_each_local_view():
    """loss_scfs = weight * sum over stages of the mean over local views of SCE(head(local map),
    target_head(views[1]'s map weighted by its cosine with the pooled local map)), in-batch negatives."""
    model = tiny_method(SCFS + ["method.scfs.stages=[res4,res5]"])
    term = model.terms["scfs"]
    assert term.stages == ("res4", "res5") and model.stages == ("res4", "res5")
    views = tiny_views(local=2)
    reference = copy.deepcopy(model)
    logged = model(views)["loss_scfs"]
    with torch.no_grad():
        target = reference.target.backbone.forward_stages(views[1], ["res4", "res5"])
        online = reference.backbone.forward_stages(torch.cat(views[2:]), ["res4", "res5"])
        expected = 0.0
        for stage in ("res4", "res5"):
            q = reference.terms["scfs"].heads[stage](online[stage]).chunk(2)
            searched = [searched_feature(target[stage], attention_map(m.mean(dim=(2, 3, 4)), target[stage])) for m in online[stage].chunk(2)]
            k = reference.terms["scfs"].target_heads[stage](torch.cat(searched)).chunk(2)
            own = torch.arange(4)
            expected += np.mean([sce_loss(q[i], k[i], Negatives(k[i], own=own), 0.1, 0.05, 0.5).item() for i in range(2)])
    assert logged.item() == pytest.approx(0.5 * expected, rel=1e-5)


def test_densecl_term_rescales_the_global_loss_and_matches_its_parts():
    """loss = (1 - lambda) * the plain method's loss + lambda * the mean over pairs of the dense loss of
    (head(online last map), target_head(target last map)) at the backbone correspondence; the dense
    queue then holds the pooled dense keys."""
    plain, dense = tiny_method([]), tiny_method(DENSECL)
    dense.load_state_dict(plain.state_dict(), strict=False)
    views = tiny_views(local=0)
    reference, queue = copy.deepcopy(dense), dense.terms["densecl"].negatives.queue.keys.clone()
    out, global_loss = dense(views), plain(views)["loss"]
    term = reference.terms["densecl"]
    with torch.no_grad():
        losses, pooled = [], []
        for a, b in [(0, 1), (1, 0)]:
            online, target = reference.backbone.forward_features(views[a]), reference.target.backbone.forward_features(views[b])
            k = term.target_head(target)
            losses.append(dense_loss(term.head(online), k, dense_correspondence(online, target), queue, 0.2))
            pooled.append(k.mean(dim=(2, 3, 4)))
    assert out["loss_densecl"].item() == pytest.approx(0.5 * np.mean([v.item() for v in losses]), rel=1e-5)
    assert out["loss"].item() == pytest.approx(0.5 * global_loss.item() + out["loss_densecl"].item(), rel=1e-5)
    pushed = torch.nn.functional.normalize(torch.cat(pooled), dim=1)
    assert torch.allclose(dense.terms["densecl"].negatives.queue.keys[:8], pushed, atol=1e-6)


@pytest.mark.parametrize("option", ["scfs", "densecl"])
def test_term_target_heads_follow_the_online_heads_by_ema(option):
    model = tiny_method(OPTIONS[option])
    term = model.terms[option]
    online, target = (term.heads, term.target_heads) if option == "scfs" else (term.head, term.target_head)
    with torch.no_grad():
        for p in online.parameters():
            p.add_(1.0)
    before = [p.clone() for p in target.parameters()]
    model.after_optimizer_step(3, 10)
    m = cosine_momentum(3, 10, 0.99)
    for old, new, o in zip(before, target.parameters(), online.parameters()):
        assert torch.allclose(new, m * old + (1 - m) * o, atol=1e-6)
    assert not any(p.requires_grad for p in target.parameters())


STEP_CASES = [("sce", option) for option in sorted(OPTIONS)] + [(m, o) for m in ("moco", "ressl", "byol") for o in ("multicrop", "scfs", "densecl")]


@pytest.mark.parametrize("method,option", STEP_CASES)
def test_option_trains_one_step_and_logs(method, option):
    model = tiny_method([f"method.name={method}"] + OPTIONS[option])
    local = 2 if any(o.startswith("data.local_views") for o in OPTIONS[option]) else 0
    out = model(tiny_views(local=local))
    out["loss"].backward()
    names = [n for n in ("scfs", "densecl") if n in option or option == "all"]
    assert sorted(model.terms) == sorted(names)
    for name in names:
        assert torch.isfinite(out[f"loss_{name}"]) and out[f"loss_{name}"] > 0
    assert all(p.grad is not None and torch.isfinite(p.grad).all() for p in model.terms.parameters() if p.requires_grad)
    assert all(p.grad is not None for p in model.backbone.parameters())
    assert all(p.grad is None for p in model.target.parameters())
    model.after_optimizer_step(1, 10)


def test_off_by_default_no_stages_no_state():
    model = tiny_method([])
    assert model.stages == () and len(model.terms) == 0
    assert not any(k.startswith("terms") for k in model.state_dict())


# ---- config rules


@pytest.mark.parametrize(
    "overrides,key",
    [
        (["data.local_views=-1"], "data.local_views"),
        (["data.local_views=2", "method.name=simclr"], "data.local_views"),
        (["data.local_views=2", "data.num_views=3"], "data.local_views"),
        (["data.local_views=2", "method.vclr.segments=2"], "data.local_views"),
        (["data.local_crop_scale=[0.5,0.2]"], "data.local_crop_scale"),
        (["data.local_frames=0"], "data.local_frames"),
        (["method.scfs.weight=0.5"], "method.scfs.weight"),  # no local views
        (["method.scfs.weight=0.5", "data.local_views=2", "method.name=simclr"], "data.local_views"),
        (["method.scfs.stages=[]"], "method.scfs.stages"),
        (["method.scfs.stages=[res4,res4]"], "method.scfs.stages"),
        (["method.scfs.temp=0"], "method.scfs.temp"),
        (["method.densecl.weight=1.0"], "method.densecl.weight"),
        (["method.densecl.weight=0.5", "method.name=simclr"], "method.densecl.weight"),
        (["method.densecl.weight=0.5", "method.vclr.segments=2"], "method.densecl.weight"),
        (["method.densecl.dim=0"], "method.densecl.dim"),  # the key that is wrong, by name
    ],
)
def test_bad_region_config_names_the_key(overrides, key):
    with pytest.raises(ConfigError, match=key.replace(".", r"\.")) as error:
        load_config(None, BASE + overrides)
    assert "\n" not in str(error.value)


def test_scfs_stage_unknown_to_the_backbone_is_a_config_error():
    with pytest.raises(ConfigError, match=r"method\.scfs\.stages.*conv5.*choose from stem, res2, res3, res4, res5"):
        tiny_method(SCFS + ["method.scfs.stages=[conv5]"])  # X3D's stage, not r3d_tiny's
    assert tiny_method(SCFS + ["method.scfs.stages=[res2]", "model.backbone=x3d_xs"]).terms["scfs"].stages == ("res2",)


# ---- the dataset's local views, and one step on the demo


def local_config(root, tmp_path, *overrides):
    return load_config(None, demo_data(root) + BASE[2:] + [f"output_dir={tmp_path}", "data.local_views=2", "data.local_size=16"] + list(overrides))


def test_dataset_appends_local_clips_with_their_own_size_and_frames(demo_root, tmp_path):
    cfg = local_config(demo_root, tmp_path, "data.local_frames=2", "data.local_crop_scale=[0.1,0.3]")
    dataset = train_dataset(cfg, read_index(cfg.data, "train"), 2, local_views=2)
    clips = dataset.sample_clips(0, np.random.default_rng(0))
    assert [len(c) for c in clips] == [4, 4, 2, 2]
    assert all(c[1] - c[0] == 2 or c[1] == 15 for c in clips[2:])  # data.stride=2, the last frame repeats at the end
    views, _, _ = dataset[0]
    assert [tuple(v.shape) for v in views] == [(3, 4, 24, 24)] * 2 + [(3, 2, 16, 16)] * 2
    assert [t.size for t in dataset.transforms] == [24, 24, 16, 16] and dataset.transforms[2].scale == (0.1, 0.3)
    plain = train_dataset(cfg, read_index(cfg.data, "train"), 2, local_views=0)
    assert plain.sample_clips(0, np.random.default_rng(0)) == clips[:2]  # locals drawn after the globals: same global clips


def test_time_based_local_clips_keep_the_sampling_rate(demo_root, tmp_path):
    cfg = local_config(demo_root, tmp_path, "data.clip_duration=0.5", "data.local_frames=2")
    dataset = train_dataset(cfg, read_index(cfg.data, "train"), 2, local_views=1)
    for index in range(4):  # 16 fps: a 0.5 s window holds 8 frames, 4 spread first to last; a 0.25 s one 4, 2 of them 3 apart (over 0.5 s: 7)
        first, second, local = dataset.sample_clips(index, np.random.default_rng(index))
        assert np.diff(first).tolist() == [2, 2, 3] and np.diff(local).tolist() == [3]


@pytest.mark.parametrize("option", ["multicrop", "scfs", "densecl"])
def test_one_training_step_on_the_demo_data(demo_root, tmp_path, option):
    cfg = load_config(None, demo_data(demo_root) + BASE[2:] + [f"output_dir={tmp_path}", "data.local_size=16"] + OPTIONS[option])
    dataset = train_dataset(cfg, read_index(cfg.data, "train"), 2)
    items = [dataset[i][0] for i in range(2)]
    views = [torch.stack([item[v] for item in items]) for v in range(len(items[0]))]
    torch.manual_seed(0)
    model = build_method(cfg.model, cfg.method)
    optimizer = torch.optim.SGD(model.parameters(), lr=0.1)
    out = model(views)
    out["loss"].backward()
    optimizer.step()
    model.after_optimizer_step(1, 10)
    assert torch.isfinite(out["loss"]) and len(views) == 2 + cfg.data.local_views
    assert all(torch.isfinite(p).all() for p in model.parameters())


def test_benchmark_step_times_variant_rows_with_their_local_views(capsys):
    from helpers import run_tool

    from videosce.benchmarks.step import random_views

    small = ["model.proj_hidden_dim=32", "model.proj_dim=8", "model.pred_hidden_dim=32", "method.queue_size=16", "trainer.batch_size=2",
             "data.frames=4", "data.size=24"]
    cfg = load_config(None, BASE + small[3:] + ["data.local_views=2", "data.local_size=16", "data.local_frames=2"])
    shapes = [tuple(v.shape) for v in random_views(cfg.data, cfg.trainer.batch_size, torch.Generator().manual_seed(0), torch.device("cpu"))]
    assert shapes == [(2, 3, 4, 24, 24)] * 2 + [(2, 3, 2, 16, 16)] * 2
    run_tool("benchmark_step", "--repeats", "1", "--warmup", "0", *small, "--variant", "sce", "--variant", "multicrop", "data.local_views=2",
             "data.local_size=16")
    out = capsys.readouterr().out
    assert "| variant | step (ms, median) | clips/s | ratio to sce |" in out and "| sce |" in out and "| multicrop |" in out
