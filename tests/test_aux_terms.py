"""The temporal auxiliary objectives against float64 oracles written from the papers' definitions,
and a smoke test of every auxiliary option on a tiny model."""
import math

import numpy as np
import pytest
import torch

from videosce.config import ConfigError, load_config
from videosce.losses import nt_xent_loss
from videosce.losses.temporal import (
    cross_view_infonce,
    long_short_loss,
    shuffle_chunks,
    shuffle_rank_loss,
    split_time,
    temporal_coherent_loss,
    unshuffle_slots,
)
from videosce.methods import TermInputs, build_method

BASE = ["data.video_root=v", "data.split_dir=s", "model.backbone=r3d_tiny", "model.proj_hidden_dim=32", "model.proj_dim=8",
        "model.pred_hidden_dim=32", "method.queue_size=16"]


def tiny_method(overrides):
    cfg = load_config(None, BASE + overrides)
    return build_method(cfg.model, cfg.method)


def softplus(x):
    return math.log1p(math.exp(-abs(x))) + max(x, 0.0)


def unit(x):
    x = np.asarray(x, dtype=np.float64)
    return x / np.linalg.norm(x, axis=-1, keepdims=True)


def test_split_and_shuffle_chunks_by_hand():
    clips = torch.arange(2 * 7, dtype=torch.float32).view(2, 1, 7, 1, 1).expand(2, 3, 7, 2, 2)  # frame t of clip b holds 7b + t
    chunks = split_time(clips, 3)  # 7 frames -> 3 chunks of 2, frame 6 dropped
    assert chunks.shape == (2, 3, 3, 2, 2, 2)
    assert chunks[1, 2, 0, :, 0, 0].tolist() == [11.0, 12.0]
    perm = torch.tensor([[2, 0, 1], [1, 2, 0]])
    shuffled = shuffle_chunks(clips, perm)
    assert shuffled.shape == (2, 3, 6, 2, 2)
    expected = [[4, 5, 0, 1, 2, 3], [9, 10, 11, 12, 7, 8]]  # chunk j of the output is chunk perm[b, j] of the input
    assert shuffled[:, 0, :, 0, 0].tolist() == expected
    assert torch.equal(shuffled[:, 2], shuffled[:, 0])


def test_unshuffle_calibrates_slots_to_their_chunks():
    """A perfectly equivariant series model (slot j = mean of the chunk at position j) gives
    calibrated shuffled slots equal to the original clip's slots."""
    gen = torch.Generator().manual_seed(0)
    clips = torch.randn(4, 3, 12, 2, 2, generator=gen)
    perm = torch.rand(4, 4, generator=gen).argsort(dim=1)

    def slots(x):
        return split_time(x, 4).mean(dim=(3, 4, 5))  # (B,C,3)

    assert torch.allclose(unshuffle_slots(slots(shuffle_chunks(clips, perm)), perm), slots(clips))


def rank_oracle(reference, calibrated, temp, cap):
    losses = []
    for ref, cal in zip(reference.double().numpy(), calibrated.double().numpy()):
        u = unit(np.concatenate([ref, cal]))
        c = len(ref)
        for r in range(2 * c):
            partner = (r + c) % (2 * c)
            for t in range(2 * c):
                if t not in (r, partner):
                    z = (u[r] @ u[t] - u[r] @ u[partner]) / temp
                    losses.append(softplus(min(z, cap) if cap is not None else z))
    return float(np.mean(losses))


@pytest.mark.parametrize("chunks,cap", [(2, 5.0), (3, 5.0), (4, None)])
def test_shuffle_rank_loss_matches_oracle(chunks, cap):
    gen = torch.Generator().manual_seed(chunks)
    reference, calibrated = torch.randn(3, chunks, 5, generator=gen), torch.randn(3, chunks, 5, generator=gen)
    loss = shuffle_rank_loss(reference, calibrated, temp=0.05, cap=cap)
    assert loss.item() == pytest.approx(rank_oracle(reference, calibrated, 0.05, cap), rel=1e-5)


def test_shuffle_rank_loss_small_when_counterparts_match():
    """Orthonormal chunk slots matched exactly: every margin is -1, loss = softplus(-1 / theta)."""
    slots = torch.eye(4)[:3].unsqueeze(0)  # 3 chunks, orthonormal
    assert shuffle_rank_loss(slots, slots.clone(), temp=0.1).item() == pytest.approx(softplus(-10.0), rel=1e-5)
    swapped = slots[:, [1, 0, 2]]
    assert shuffle_rank_loss(slots, swapped, temp=0.1) > shuffle_rank_loss(slots, slots, temp=0.1)


def coherent_oracle(series_a, series_b, temp):
    """NT-Xent over 2B clips with sim(x, y) = mean over the C x C chunk-slot cosines."""
    clips = [unit(s) for s in np.concatenate([series_a.double().numpy(), series_b.double().numpy()])]
    n, batch = len(clips), len(series_a)
    sim = np.array([[np.mean(x @ y.T) for y in clips] for x in clips])
    losses = []
    for i in range(n):
        positive = (i + batch) % n
        logits = np.array([sim[i, j] / temp for j in range(n) if j != i])
        target = sim[i, positive] / temp
        losses.append(-(target - np.log(np.exp(logits).sum())))
    return float(np.mean(losses))


def test_temporal_coherent_loss_matches_oracle():
    gen = torch.Generator().manual_seed(1)
    a, b = torch.randn(5, 3, 4, generator=gen), torch.randn(5, 3, 4, generator=gen)
    assert temporal_coherent_loss(a, b, temp=0.07).item() == pytest.approx(coherent_oracle(a, b, 0.07), rel=1e-5)


def test_temporal_coherent_loss_with_one_chunk_is_nt_xent():
    gen = torch.Generator().manual_seed(2)
    a, b = torch.randn(6, 8, generator=gen), torch.randn(6, 8, generator=gen)
    assert temporal_coherent_loss(a[:, None], b[:, None], temp=0.2).item() == pytest.approx(nt_xent_loss(a, b, temp=0.2).item(), rel=1e-6)


def infonce_oracle(q, k, temp):
    q, k = unit(q.double().numpy()), unit(k.double().numpy())

    def one_way(x, y):
        return np.mean([-(x[i] @ y[i] / temp - np.log(np.exp(x[i] @ y.T / temp).sum())) for i in range(len(x))])

    return (one_way(q, k) + one_way(k, q)) / 2


def test_cross_view_infonce_matches_oracle():
    gen = torch.Generator().manual_seed(3)
    q, k = torch.randn(5, 6, generator=gen), torch.randn(5, 6, generator=gen)
    assert cross_view_infonce(q, k, temp=0.1).item() == pytest.approx(infonce_oracle(q, k, 0.1), rel=1e-5)


def test_long_short_loss_matches_oracle():
    """Stationary dims: each short view <-> the long view; non-stationary: aggregate <-> long view."""
    gen = torch.Generator().manual_seed(4)
    long, short = torch.randn(4, 7, generator=gen), torch.randn(4, 3, 7, generator=gen)
    weight = torch.randn(3 * 4, 4, generator=gen)
    aggregated = short[..., 3:].flatten(1) @ weight  # a linear aggregator over the short views in order
    expected = np.mean([infonce_oracle(short[:, k, :3], long[:, :3], 0.1) for k in range(3)]) + infonce_oracle(aggregated, long[:, 3:], 0.1)
    assert long_short_loss(long, short, aggregated, stationary_dim=3, temp=0.1).item() == pytest.approx(expected, rel=1e-5)


OPTIONS = {  # test id -> (term name, overrides)
    "inter_intra": ("inter_intra", ["method.inter_intra.rank_weight=1.0", "method.inter_intra.coherent_weight=0.5"]),
    "rank_only": ("inter_intra", ["method.inter_intra.rank_weight=1.0", "method.inter_intra.chunks=4"]),
    "coherent_only": ("inter_intra", ["method.inter_intra.coherent_weight=1.0"]),
    "long_short": ("long_short", ["method.long_short.weight=1.0", "method.long_short.num_short=2",
                                  "method.long_short.stationary_dim=16", "method.long_short.dim=32"]),
}


@pytest.mark.parametrize("method", ["sce", "moco"])
@pytest.mark.parametrize("option", sorted(OPTIONS))
def test_aux_option_trains_one_step_and_logs(method, option):
    torch.manual_seed(0)
    name, overrides = OPTIONS[option]
    model = tiny_method([f"method.name={method}"] + overrides)
    assert list(model.terms) == [name]
    views = [torch.randn(2, 3, 8, 24, 24) for _ in range(2)]
    out = model(views, None)
    out["loss"].backward()
    assert f"loss_{name}" in out and torch.isfinite(out[f"loss_{name}"]) and out[f"loss_{name}"] > 0
    assert all(p.grad is not None and torch.isfinite(p.grad).all() for p in model.terms.parameters())
    assert all(p.grad is not None for p in model.backbone.parameters())
    assert all(p.grad is None for p in model.target.backbone.parameters())


@pytest.mark.parametrize("option", ["inter_intra", "long_short"])
def test_terms_reuse_the_online_features(option):
    """One extra backbone pass per term (the shuffled clip / the sub-clips), and the same value as
    a term computing every feature itself."""
    name, overrides = OPTIONS[option]
    torch.manual_seed(0)
    model = tiny_method(overrides)
    calls = []
    model.backbone.register_forward_hook(lambda module, args, out: calls.append(args[0].shape[0]))
    views = [torch.randn(2, 3, 8, 24, 24) for _ in range(2)]
    draws = torch.Generator()
    draws.set_state(model.generator.get_state())  # the term's shuffle draws, replayed below
    logged = model(views)[f"loss_{name}"]
    assert calls == [2, 2, 2] if option == "inter_intra" else calls == [2, 2, 4]  # a, b, then shuffled a / 2 x 2 sub-clips
    alone = model.terms[name](TermInputs(views, [], model.backbone, draws))  # no features given: the term encodes every view
    assert alone.item() == pytest.approx(logged.item(), rel=1e-5)


def test_aux_terms_off_by_default():
    model = tiny_method([])
    assert len(model.terms) == 0
    assert not any(key.startswith("terms") for key in model.state_dict())
    out = model([torch.randn(2, 3, 8, 24, 24) for _ in range(2)])
    assert list(out) == ["loss"]


@pytest.mark.parametrize(
    "overrides,key",
    [
        (["method.long_short.stationary_dim=128"], "method.long_short.stationary_dim"),
        (["method.long_short.weight=-1"], "method.long_short.weight"),
        (["method.inter_intra.chunks=1"], "method.inter_intra.chunks"),
        (["method.inter_intra.rank_weight=1", "method.inter_intra.chunks=9"], "method.inter_intra.chunks"),  # > data.frames=8
        (["method.long_short.weight=1", "method.long_short.num_short=16"], "method.long_short.num_short"),
        (["method.inter_intra.coherent_temp=0"], "method.inter_intra.coherent_temp"),
    ],
)
def test_bad_aux_config_names_the_key(overrides, key):
    with pytest.raises(ConfigError, match=key.replace(".", r"\.")):
        load_config(None, BASE + overrides)


def test_chunks_beyond_frames_allowed_while_off():
    assert load_config(None, BASE + ["method.inter_intra.chunks=9"]).method.inter_intra.chunks == 9
