"""Every registered backbone gets the contract tests for free (timm's test_models idea)."""
import pytest
import torch
from torch import nn

from videosce.models import backbone_info, build_backbone, create_backbone, list_backbones, load_backbone_weights


def tiny_clip(name, batch=2):
    """B=2, T=4, 32x32, or the entry's minimum; T a multiple of 4 (S3D's minimum T=5 would also
    hit a oneDNN crash in conv3d backward at T=5 with torch 2.14.1 on CPU)."""
    info = backbone_info(name)
    frames = max(4, -(-info["min_frames"] // 4) * 4)
    size = max(32, info["min_size"])
    return torch.randn(batch, 3, frames, size, size)


@pytest.mark.parametrize("name", list_backbones())
def test_forward_shape_backward_and_feature_map(name):
    torch.manual_seed(0)
    model = create_backbone(name)
    x = tiny_clip(name)
    feats = model(x)
    assert feats.shape == (x.shape[0], model.num_features)
    fmap = model.forward_features(x)
    assert fmap.ndim == 5 and fmap.shape[:2] == (x.shape[0], model.num_features)
    feats.sum().backward()
    grads = [p.grad for p in model.parameters() if p.requires_grad]
    assert all(g is not None and torch.isfinite(g).all() for g in grads)


@pytest.mark.parametrize("name", list_backbones())
def test_eval_mode_is_deterministic_and_info_present(name):
    """Also: adaptive pooling takes the smallest clip (`min_frames` x `min_size`^2) and an odd non-square one."""
    model = create_backbone(name).eval()
    x = tiny_clip(name)
    info = backbone_info(name)
    with torch.no_grad():
        assert torch.equal(model(x), model(x))
        assert model(torch.randn(1, 3, info["min_frames"], info["min_size"], info["min_size"])).shape == (1, model.num_features)
        assert model(torch.randn(1, 3, max(7, info["min_frames"]), 45, 37)).shape == (1, model.num_features)
    assert info["frames"] >= info["min_frames"] >= 1 and info["size"] >= max(16, info["min_size"])


@pytest.mark.parametrize("name", list_backbones())
def test_named_stages(name):
    """stem, res2..res5 in order (+ later steps); the last stage is the last feature map; a subset comes
    back in the order asked and stops the trunk at the deepest; res4 and res5 halve the size before."""
    torch.manual_seed(0)
    model = create_backbone(name).eval()
    names = model.stage_names
    assert names[:5] == ("stem", "res2", "res3", "res4", "res5")
    x = tiny_clip(name)
    with torch.no_grad():
        every = model.forward_stages(x, names)
        assert list(every) == list(names) and torch.equal(every[names[-1]], model.forward_features(x))
        later = [m for m in dict(model.stages())["res5"].modules()]
        calls = []
        hooks = [m.register_forward_hook(lambda *args: calls.append(1)) for m in later]
        subset = model.forward_stages(x, ["res4", "res3"])
        for hook in hooks:
            hook.remove()
    assert list(subset) == ["res4", "res3"] and not calls
    assert torch.equal(subset["res3"], every["res3"])
    for low, high in [("res3", "res4"), ("res4", "res5")]:
        assert every[high].shape[-2:] == tuple(-(-n // 2) for n in every[low].shape[-2:])
    model.train()
    assert model.stage_channels(names) == {n: every[n].shape[1] for n in names} and model.training
    assert every[names[-1]].shape[1] == model.num_features
    with pytest.raises(ValueError, match="res9.*choose from stem, res2"):
        model.forward_stages(x, ["res9"])


def test_torchvision_state_dict_interop():
    from torchvision.models.video import r3d_18

    ours, theirs = create_backbone("r3d_18").eval(), r3d_18(weights=None).eval()
    state = {k: v for k, v in theirs.state_dict().items() if not k.startswith("fc.")}
    load_backbone_weights(ours, state)
    theirs.fc = torch.nn.Identity()
    x = torch.randn(1, 3, 4, 32, 32)
    with torch.no_grad():
        assert torch.allclose(ours(x), theirs(x), atol=1e-5)


def test_unknown_backbone_lists_choices():
    with pytest.raises(KeyError, match="r3d_18"):
        create_backbone("resnet9000")


def test_wrong_architecture_weights_fail_loudly():
    with pytest.raises(RuntimeError):
        load_backbone_weights(create_backbone("r3d_tiny"), create_backbone("r2plus1d_18").state_dict())


# --- Reference definitions: the independent oracle for parameter counts and weight interop ----
# Each entry: the full reference model (torchvision / pytorchvideo hub, weights=None), the key
# prefixes of its classifier, and a function turning it into "the reference minus classifier"
# returning globally pooled features (fixed-size pools become adaptive so tiny clips work).


def _tv_resnet_trunk(net):
    net.fc = nn.Identity()
    return net


def _tv_s3d_trunk(net):
    net.avgpool, net.classifier = nn.AdaptiveAvgPool3d(1), nn.Identity()
    return net


def _ptv_resnet_trunk(net):
    head = net.blocks[-1]
    head.pool, head.proj, head.activation = nn.AdaptiveAvgPool3d(1), None, None
    return net


def _ptv_x3d_trunk(net):
    head = net.blocks[-1]
    head.pool.pool, head.pool.post_conv = nn.AdaptiveAvgPool3d(1), nn.Identity()  # post_act ReLU: identity on >= 0
    head.proj, head.activation = None, None
    return net


# The SCE reference's ResNet3D-18 (the authors' `create_resnet3d_basic`, depth 18), assembled here the way
# that code does: pytorchvideo's stem, `create_res_stage` with a basic block as its `bottleneck`, and
# pytorchvideo's head. (stage, channels, conv_a temporal kernel, spatial stride) per stage:
SLOW_R18_STAGES = ((1, 64, 1, 1), (2, 128, 1, 2), (3, 256, 3, 2), (4, 512, 3, 2))


class _ReferenceBasicBlock(nn.Module):
    def __init__(self, conv_a, norm_a, act_a, conv_b, norm_b):
        super().__init__()
        self.conv_a, self.norm_a, self.act_a, self.conv_b, self.norm_b = conv_a, norm_a, act_a, conv_b, norm_b

    def forward(self, x):
        return self.norm_b(self.conv_b(self.act_a(self.norm_a(self.conv_a(x)))))


def _reference_basic_block(*, dim_in, dim_out, conv_a_kernel_size, conv_a_stride, conv_a_padding, conv_b_kernel_size,
                           conv_b_stride, conv_b_padding, norm, norm_eps, norm_momentum, **_bottleneck_only):
    return _ReferenceBasicBlock(
        nn.Conv3d(dim_in, dim_out, conv_a_kernel_size, conv_a_stride, conv_a_padding, bias=False),
        norm(num_features=dim_out, eps=norm_eps, momentum=norm_momentum), nn.ReLU(),
        nn.Conv3d(dim_out, dim_out, conv_b_kernel_size, conv_b_stride, conv_b_padding, bias=False),
        norm(num_features=dim_out, eps=norm_eps, momentum=norm_momentum),
    )


def _reference_slow_r18():
    from pytorchvideo.models.head import create_res_basic_head
    from pytorchvideo.models.net import Net
    from pytorchvideo.models.resnet import create_res_stage
    from pytorchvideo.models.stem import create_res_basic_stem

    blocks = [create_res_basic_stem(in_channels=3, out_channels=64, conv_kernel_size=(1, 7, 7), conv_stride=(1, 2, 2),
                                    conv_padding=(0, 3, 3))]
    dim_in = 64
    for index, dim_out, kt, stride in SLOW_R18_STAGES:
        blocks.append(create_res_stage(
            depth=2, dim_in=dim_in, dim_inner=dim_out, dim_out=dim_out, bottleneck=_reference_basic_block,
            conv_a_kernel_size=(kt, 3, 3), conv_a_stride=(1, stride, stride), conv_a_padding=(kt // 2, 1, 1),
            conv_b_kernel_size=(1, 3, 3), conv_b_stride=(1, 1, 1), conv_b_padding=(0, 1, 1),
        ))
        dim_in = dim_out
    blocks.append(create_res_basic_head(in_features=512, out_features=400, pool_kernel_size=(8, 7, 7)))
    return Net(blocks=nn.ModuleList(blocks))


def _references():
    from pytorchvideo.models.hub import r2plus1d_r50, slow_r50, x3d_l, x3d_m, x3d_s, x3d_xs
    from torchvision.models import video as tv
    from torchvision.models.video.resnet import BasicBlock, BasicStem, Conv2Plus1D, Conv3DSimple, R2Plus1dStem, VideoResNet

    tv_resnet, tv_s3d = ("fc.",), ("classifier.",)
    ptv_resnet, ptv_x3d = ("blocks.5.",), ("blocks.5.pool.post_conv.", "blocks.5.proj.")
    return {
        "r3d_18": (lambda: tv.r3d_18(weights=None), tv_resnet, _tv_resnet_trunk),
        "r3d_34": (lambda: VideoResNet(BasicBlock, [Conv3DSimple] * 4, [3, 4, 6, 3], BasicStem), tv_resnet, _tv_resnet_trunk),
        "r2plus1d_18": (lambda: tv.r2plus1d_18(weights=None), tv_resnet, _tv_resnet_trunk),
        "r2plus1d_34": (lambda: VideoResNet(BasicBlock, [Conv2Plus1D] * 4, [3, 4, 6, 3], R2Plus1dStem), tv_resnet, _tv_resnet_trunk),
        "s3d": (lambda: tv.s3d(weights=None), tv_s3d, _tv_s3d_trunk),
        "r3d_50": (slow_r50, ptv_resnet, _ptv_resnet_trunk),
        "r3d_18_slow": (_reference_slow_r18, ptv_resnet, _ptv_resnet_trunk),
        "r2plus1d_50": (r2plus1d_r50, ptv_resnet, _ptv_resnet_trunk),
        "x3d_xs": (x3d_xs, ptv_x3d, _ptv_x3d_trunk),
        "x3d_s": (x3d_s, ptv_x3d, _ptv_x3d_trunk),
        "x3d_m": (x3d_m, ptv_x3d, _ptv_x3d_trunk),
        "x3d_l": (x3d_l, ptv_x3d, _ptv_x3d_trunk),
    }


REFERENCES = _references()
DEMO_ONLY = {"r3d_tiny"}  # our own CPU demo net: no reference definition


def test_every_entry_has_a_reference():
    assert set(list_backbones()) - DEMO_ONLY == set(REFERENCES)


def _randomize_bn_stats(model):
    """Non-trivial running statistics, so the round trips below also check the buffers."""
    for m in model.modules():
        if isinstance(m, (nn.BatchNorm3d, nn.SyncBatchNorm)):
            m.running_mean.uniform_(-0.2, 0.2)
            m.running_var.uniform_(0.5, 1.5)
    return model


@pytest.mark.parametrize("name", sorted(REFERENCES))
def test_reference_params_and_weights_round_trip(name):
    """Parameter count = the reference's minus its classifier. Reference state_dict -> ours
    (classifier keys dropped), and ours -> the reference minus classifier (strict=True, no key
    mapping): the same clip gives the same features both ways (eval mode)."""
    build, head_keys, strip = REFERENCES[name]
    torch.manual_seed(0)
    reference = _randomize_bn_stats(build()).eval()
    ours = create_backbone(name).eval()
    trunk = sum(v.numel() for k, v in reference.named_parameters() if not k.startswith(head_keys))
    assert sum(p.numel() for p in ours.parameters()) == trunk

    x = tiny_clip(name)
    load_backbone_weights(ours, reference.state_dict())
    reference = strip(reference)
    with torch.no_grad():
        assert torch.allclose(ours(x), reference(x), atol=1e-4, rtol=1e-4)
        for p in ours.parameters():
            p.mul_(1 + 0.1 * torch.randn_like(p))
        _randomize_bn_stats(ours)
        reference.load_state_dict(ours.state_dict(), strict=True)
        assert torch.allclose(ours(x), reference(x), atol=1e-4, rtol=1e-4)


@pytest.mark.parametrize("name", ["r3d_18", "r3d_50"])
def test_exported_backbone_file_loads_everywhere(name, tmp_path):
    """A run's backbone.pt (videosce.engine.checkpoint.export_backbone) loads into our backbone with
    load_backbone_weights, and its state_dict into the reference model minus classifier (torchvision
    r3d_18, pytorchvideo slow_r50) with strict=True; the outputs agree."""
    from videosce.engine.checkpoint import export_backbone

    build, _, strip = REFERENCES[name]
    ours = _randomize_bn_stats(create_backbone(name)).eval()
    path = export_backbone(ours, {"model": {"backbone": name}}, tmp_path / "backbone.pt", epoch=3)
    again = load_backbone_weights(create_backbone(name), path).eval()
    reference = strip(build()).eval()
    reference.load_state_dict(torch.load(path, map_location="cpu", weights_only=True)["state_dict"], strict=True)
    x = torch.randn(1, 3, 4, 32, 32)
    with torch.no_grad():
        assert torch.equal(again(x), ours(x)) and torch.allclose(reference(x), ours(x), atol=1e-4, rtol=1e-4)


def _slow_r18_convs():
    """(out, in, kt, kh, kw, output spatial side at a 224 input) of every conv of SCE's ResNet3D-18, from its definition."""
    convs = [(64, 3, 1, 7, 7, 112)]  # stem; the 1x3x3 max-pool then halves 112 -> 56
    dim_in, side = 64, 56
    for _, dim_out, kt, stride in SLOW_R18_STAGES:
        side //= stride
        convs += [(dim_out, dim_in, kt, 3, 3, side), (dim_out, dim_out, 1, 3, 3, side)]  # block 1: conv_a, conv_b
        if dim_in != dim_out or stride != 1:
            convs.append((dim_out, dim_in, 1, 1, 1, side))  # projection shortcut
        convs += [(dim_out, dim_out, kt, 3, 3, side), (dim_out, dim_out, 1, 3, 3, side)]  # block 2
        dim_in = dim_out
    return convs


def test_r3d_18_slow_params_and_flops_closed_form():
    """Parameters: conv weights + 2 per BatchNorm channel (one norm after every conv, no biases). Multiply-adds
    at 8 x 224^2 (no temporal stride: T' = 8): conv weights x output positions. Exact (integer counts)."""
    from videosce.models.info import count_gflops

    convs = _slow_r18_convs()
    params = sum(o * i * kt * kh * kw + 2 * o for o, i, kt, kh, kw, _ in convs)
    macs = sum(o * i * kt * kh * kw * 8 * side * side for o, i, kt, kh, kw, side in convs)
    model = create_backbone("r3d_18_slow")
    assert sum(p.numel() for p in model.parameters()) == params == 20_023_872
    assert count_gflops(model, 8, 224) * 1e9 == pytest.approx(macs, rel=1e-9)
    assert backbone_info("r3d_18_slow")["frames"] == 8 and backbone_info("r3d_18_slow")["size"] == 224


def test_r3d_18_slow_layout_and_no_temporal_downsampling():
    """The reference's keys and kernels: 1x7x7 stem, conv_a temporal kernel 1 in res2/res3 and 3 in res4/res5,
    conv_b 1x3x3; T frames in, T out; torchvision's r3d_18 (3x7x7 stem) is still registered unchanged."""
    state = create_backbone("r3d_18_slow").state_dict()
    shapes = {
        "blocks.0.conv.weight": (64, 3, 1, 7, 7),
        "blocks.1.res_blocks.0.branch2.conv_a.weight": (64, 64, 1, 3, 3),
        "blocks.2.res_blocks.0.branch2.conv_a.weight": (128, 64, 1, 3, 3),
        "blocks.2.res_blocks.0.branch1_conv.weight": (128, 64, 1, 1, 1),
        "blocks.3.res_blocks.1.branch2.conv_a.weight": (256, 256, 3, 3, 3),
        "blocks.4.res_blocks.0.branch2.conv_b.weight": (512, 512, 1, 3, 3),
        "blocks.4.res_blocks.1.branch2.norm_b.running_var": (512,),
    }
    assert {k: tuple(state[k].shape) for k in shapes} == shapes
    assert "blocks.1.res_blocks.0.branch1_conv.weight" not in state  # res2 keeps 64 channels and stride 1
    with torch.no_grad():
        assert create_backbone("r3d_18_slow").eval().forward_features(torch.randn(1, 3, 8, 64, 64)).shape == (1, 512, 8, 2, 2)
    assert create_backbone("r3d_18").stem[0].kernel_size == (3, 7, 7)


def test_pytorchvideo_checkpoint_file_loads(tmp_path):
    """A pytorchvideo / PySlowFast checkpoint keeps its weights under `model_state`."""
    from pytorchvideo.models.hub import x3d_xs

    reference = _randomize_bn_stats(x3d_xs())
    torch.save({"model_state": reference.state_dict(), "epoch": 300}, tmp_path / "x3d_xs.pyth")
    ours = load_backbone_weights(create_backbone("x3d_xs"), tmp_path / "x3d_xs.pyth")
    assert torch.equal(ours.state_dict()["blocks.5.pool.pre_norm.running_var"], reference.state_dict()["blocks.5.pool.pre_norm.running_var"])


# --- FLOPs against published figures -----------------------------------------------------------

# fvcore traces a real forward pass at the published input: ~5 s each for these on 2 loaded CPU
# cores (one thread; far more with two threads competing), 0.8-1.7 s for the others.
SLOW_FLOPS = {"r2plus1d_50", "x3d_l"}


def _flops_cases():
    """One count per (entry, input): every published figure at that input is checked against it."""
    cases = []
    for name in list_backbones():
        refs = backbone_info(name)["flops_ref"]
        for clip in sorted({(r.frames, r.size) for r in refs}):
            at_clip = tuple(r for r in refs if (r.frames, r.size) == clip)
            marks = [pytest.mark.slow] if name in SLOW_FLOPS else []
            cases.append(pytest.param(name, at_clip, id=f"{name}@{clip[0]}x{clip[1]}", marks=marks))
    return cases


def test_count_gflops_counts_multiply_adds_without_norm():
    """Closed form: a 3x3x3 conv from 3 to 8 channels on a 2x4x4 clip is 8*2*4*4 * 3*27 multiply-adds;
    BatchNorm (2 FLOPs per element for fvcore) is only counted on request."""
    from videosce.models.info import count_gflops

    model = nn.Sequential(nn.Conv3d(3, 8, 3, padding=1, bias=False), nn.BatchNorm3d(8))
    assert count_gflops(model, 2, 4) * 1e9 == pytest.approx(8 * 2 * 4 * 4 * 3 * 27)
    assert count_gflops(model, 2, 4, include_norm=True) * 1e9 == pytest.approx(8 * 2 * 4 * 4 * (3 * 27 + 2))
    assert model.training  # the count leaves the mode as it was


@pytest.mark.parametrize("name,refs", _flops_cases())
def test_flops_match_published(name, refs):
    from videosce.models.info import count_gflops

    measured = count_gflops(create_backbone(name), refs[0].frames, refs[0].size)
    for ref in refs:
        assert ref.source
        assert measured == pytest.approx(ref.gflops, rel=0.02), f"{name}: {measured:.3f} vs {ref.gflops} ({ref.source})"


def test_backbone_stats_and_tables():
    from videosce.models.info import backbone_stats, format_table

    stats = backbone_stats("r3d_tiny", repeats=1)
    assert stats.params == sum(p.numel() for p in create_backbone("r3d_tiny").parameters())
    assert stats.gflops > 0 and stats.latency_ms > 0 and stats.num_features == 128
    lines = format_table([stats], markdown=True).splitlines()
    assert lines[0].startswith("| backbone |") and lines[2].startswith("| r3d_tiny | 8x56x56 | 0.90 |")
    assert "r3d_tiny" in format_table([stats])


# --- Run-time options ------------------------------------------------------------------------


def test_sync_bn_conversion_keeps_weights_and_outputs():
    """The Trainer's trainer.sync_bn conversion keeps state_dict keys (checkpoints load both ways) and outputs."""
    plain = create_backbone("r3d_tiny")
    synced = nn.SyncBatchNorm.convert_sync_batchnorm(create_backbone("r3d_tiny"))
    num_bn = sum(isinstance(m, nn.BatchNorm3d) for m in plain.modules())
    assert num_bn > 0 and sum(isinstance(m, nn.SyncBatchNorm) for m in synced.modules()) == num_bn
    assert not any(isinstance(m, nn.BatchNorm3d) for m in synced.modules())
    synced.load_state_dict(_randomize_bn_stats(plain).state_dict(), strict=True)
    x = tiny_clip("r3d_tiny")
    with torch.no_grad():
        assert torch.allclose(synced.eval()(x), plain.eval()(x), atol=1e-6)
        assert torch.allclose(synced.train()(x), plain.train()(x), atol=1e-5)  # one process: plain BN


def test_channels_last_3d_converts_weights_and_inputs():
    model = build_backbone("r3d_tiny", channels_last=True).eval()
    assert all(p.is_contiguous(memory_format=torch.channels_last_3d) for p in model.parameters() if p.ndim == 5)
    reference = create_backbone("r3d_tiny").eval()
    reference.load_state_dict(model.state_dict())
    x = tiny_clip("r3d_tiny")  # contiguous (NCDHW), as the loaders yield it
    seen = []
    first_conv = next(m for m in model.modules() if isinstance(m, nn.Conv3d))
    first_conv.register_forward_pre_hook(lambda module, args: seen.append(args[0].is_contiguous(memory_format=torch.channels_last_3d)))
    assert not x.is_contiguous(memory_format=torch.channels_last_3d)
    with torch.no_grad():
        assert torch.allclose(model(x), reference(x), atol=1e-5)
    assert seen == [True]


@pytest.mark.slow  # ~30 s: inductor compiles C++ kernels with gcc
def test_torch_compile_on_cpu():
    model = build_backbone("r3d_tiny", compile=True).eval()
    reference = create_backbone("r3d_tiny").eval()
    reference.load_state_dict(model.state_dict(), strict=True)  # same type, same keys
    x = tiny_clip("r3d_tiny")
    with torch.no_grad():
        assert torch.allclose(model(x), reference(x), atol=1e-4)


def test_drop_connect_sum_drops_whole_samples():
    """Oracle: each sample's branch is either dropped or scaled by 1/(1-p); eval mode is a plain sum."""
    from videosce.models.backbones.x3d import DropConnectSum

    torch.manual_seed(0)
    fuse, shortcut, branch = DropConnectSum(0.5), torch.zeros(64, 3, 1, 1, 1), torch.ones(64, 3, 1, 1, 1)
    out = fuse.train()(shortcut, branch)
    assert set(out.unique().tolist()) == {0.0, 2.0} and (out == out[:, :1]).all()
    assert torch.equal(fuse.eval()(shortcut, branch), branch)


def test_x3d_drop_connect_rates_and_eval_identity():
    """PySlowFast's X3D: rate * (i+2)/5 for res2..res5; no parameters, so weights and eval outputs are unchanged."""
    from videosce.models.backbones.x3d import DropConnectSum

    model = create_backbone("x3d_xs", drop_connect_rate=0.5)
    rates = [[m.p for m in stage.modules() if isinstance(m, DropConnectSum)] for stage in model.blocks[1:5]]
    assert [set(r) for r in rates] == [{0.2}, {0.3}, {0.4}, {0.5}]
    plain = create_backbone("x3d_xs")
    plain.load_state_dict(model.state_dict(), strict=True)
    x = torch.randn(2, 3, 4, 32, 32)
    with torch.no_grad():
        assert torch.allclose(model.eval()(x), plain.eval()(x))
