"""Every evaluation path feeds a checkpoint clips normalised as it was trained (recorded mean/std, else the registry's).

Oracle: the first convolution's input x, captured by a forward pre-hook. A protocol's pixels p in [0, 1]
do not depend on the weights, so the same protocol run for a checkpoint trained with (mean m, std s) and
for a random backbone (registry default 0.45 / 0.225) must satisfy x_ckpt * s + m = x_random * 0.225 + 0.45.
Tolerance 1e-5 (float32); using the other statistics instead is off by far more (min |m - 0.45| = 0.25 here).
"""
import pytest
import torch

from videosce.config import ConfigError, load_config
from videosce.engine.checkpoint import save_checkpoint
from videosce.eval.finetune import finetune
from videosce.eval.knn import knn_monitor
from videosce.eval.linear import linear_eval
from videosce.eval.retrieval import evaluate_retrieval
from videosce.jobs.common import eval_backbones
from videosce.models import create_backbone
from helpers import demo_data, eval_context, small_split

TRAINED_MEAN, TRAINED_STD = [0.2, 0.2, 0.2], [0.1, 0.1, 0.1]


class Captured(Exception):
    """Raised by the hook: the first batch is all a test needs."""


def first_conv_input(backbone, run):
    """The input of the backbone's first convolution on the first batch `run()` feeds it."""
    seen = []

    def hook(module, args):
        seen.append(args[0].detach().clone())
        raise Captured

    handle = backbone.stem[0].register_forward_pre_hook(hook)
    try:
        with pytest.raises(Captured):
            run()
    finally:
        handle.remove()
    return seen[0]


@pytest.fixture
def setting(demo_root, tmp_path):
    """A small demo split, and an r3d_tiny checkpoint whose run recorded data.mean 0.2 / data.std 0.1."""
    ckpt = tmp_path / "trained.ckpt"
    trained = {"model": {"backbone": "r3d_tiny"}, "data": {"mean": TRAINED_MEAN, "std": TRAINED_STD}}
    save_checkpoint({"model": {f"backbone.{k}": v for k, v in create_backbone("r3d_tiny").state_dict().items()}, "config": trained}, ckpt)
    base = demo_data(demo_root) + [f"data.split_dir={small_split(demo_root, tmp_path, (2, 1))}", "model.backbone=r3d_tiny",
                                   f"output_dir={tmp_path / 'out'}", "eval.batch_size=2", "trainer.batch_size=2", "trainer.max_epochs=1",
                                   "trainer.progress_bar=false", "eval.knn_monitor_videos=4"]
    return base, ckpt, tmp_path


def by_checkpoint(base, ckpt, extra=()):
    """(backbone, config, normalisation) as the eval tools get them, for the trained checkpoint and for checkpoint=random."""
    out = {}
    for entry in (str(ckpt), "random"):
        cfg = load_config(None, [*base, *extra, f"checkpoint={entry}"])
        (_, backbone, norm), = eval_backbones(cfg)
        out["trained" if entry != "random" else "random"] = (backbone, cfg, norm)
    return out


def retrieval(b, cfg, norm, tmp):
    return evaluate_retrieval(b, cfg.data, cfg.eval, normalization=norm, ctx=eval_context(cfg, run_dir=tmp))


PROTOCOLS = {
    "clean": (["eval.retrieval_mode=clean"], retrieval),
    "sce": (["eval.retrieval_mode=sce"], retrieval),
    "vcop": (["eval.retrieval_mode=vcop"], retrieval),
    "finetune": ([], lambda b, cfg, norm, tmp: finetune(b, cfg.data, cfg.eval, cfg.trainer, cfg.optim, dropout=cfg.model.dropout,
                                                        normalization=norm, seed=cfg.seed, ctx=eval_context(cfg, run_dir=tmp / "finetune"))),
    "linear": ([], lambda b, cfg, norm, tmp: linear_eval(b, cfg.data, cfg.eval, cfg.trainer, cfg.optim, normalization=norm, seed=cfg.seed,
                                                         ctx=eval_context(cfg, run_dir=tmp / "linear"))),
    "knn": ([], lambda b, cfg, norm, tmp: knn_monitor(b, cfg.data, cfg.eval, normalization=norm, ctx=eval_context(cfg, run_dir=tmp))),
}


@pytest.mark.parametrize("protocol", sorted(PROTOCOLS))
def test_every_protocol_normalises_as_the_checkpoint_was_trained(protocol, setting):
    base, ckpt, tmp_path = setting
    extra, run = PROTOCOLS[protocol]
    inputs = {}
    for name, (backbone, cfg, norm) in by_checkpoint(base, ckpt, extra).items():
        (tmp_path / name).mkdir()
        inputs[name] = first_conv_input(backbone, lambda: run(backbone, cfg, norm, tmp_path / name))
    pixels_trained = inputs["trained"] * TRAINED_STD[0] + TRAINED_MEAN[0]
    pixels_random = inputs["random"] * 0.225 + 0.45
    assert torch.allclose(pixels_trained, pixels_random, atol=1e-5)
    assert pixels_random.min() >= -1e-5 and pixels_random.max() <= 1 + 1e-5
    assert (inputs["trained"] - inputs["random"]).abs().max() > 0.5


def test_vcop_input_of_a_random_r3d_tiny_is_normalised(setting):
    """The issue's check: under vcop mode a random r3d_tiny's first convolution sees normalised values (< -0.5),
    not raw [0, 1] pixels."""
    base, _, tmp_path = setting
    cfg = load_config(None, [*base, "eval.retrieval_mode=vcop", "checkpoint=random"])
    (_, backbone, norm), = eval_backbones(cfg)
    x = first_conv_input(backbone, lambda: retrieval(backbone, cfg, norm, tmp_path))
    assert x.min() < -0.5
    assert torch.allclose(x.min(), torch.tensor((0.0 - 0.45) / 0.225), atol=0.05)  # the demo videos have black pixels


def test_an_eval_config_contradicting_the_checkpoint_is_refused(setting):
    base, ckpt, _ = setting
    with pytest.raises(ConfigError, match=r"trained with data.mean=\[0.2, 0.2, 0.2\] but data.mean=\[0.45, 0.45, 0.45\]"):
        next(eval_backbones(load_config(None, [*base, f"checkpoint={ckpt}", "data.mean=[0.45,0.45,0.45]"])))
    agreeing = load_config(None, [*base, f"checkpoint={ckpt}", "data.mean=[0.2,0.2,0.2]"])
    assert list(next(eval_backbones(agreeing))[2].std) == TRAINED_STD  # unset std: the recorded one


def test_checkpoint_without_a_recorded_normalisation_gets_the_registry_default(setting):
    base, _, tmp_path = setting
    legacy = tmp_path / "legacy.ckpt"
    save_checkpoint({"model": {f"backbone.{k}": v for k, v in create_backbone("r3d_tiny").state_dict().items()},
                     "config": {"model": {"backbone": "r3d_tiny"}, "data": {"mean": None, "std": None}}}, legacy)
    norm = next(eval_backbones(load_config(None, [*base, f"checkpoint={legacy}"])))[2]
    assert list(norm.mean) == [0.45] * 3 and list(norm.std) == [0.225] * 3


def test_a_frame_count_other_than_the_pretraining_one_is_flagged(setting, caplog):
    """The protocols evaluate each pretraining row (8 or 16 frames) at its own frame count: a mismatch logs one line."""
    import logging

    base, ckpt, tmp_path = setting
    sixteen = tmp_path / "sixteen.ckpt"
    state = torch.load(ckpt, weights_only=True)
    state["config"]["data"]["frames"] = 16
    save_checkpoint(state, sixteen)
    with caplog.at_level(logging.WARNING):
        next(eval_backbones(load_config(None, [*base, f"checkpoint={sixteen}", "data.frames=4"])))
        next(eval_backbones(load_config(None, [*base, f"checkpoint={sixteen}", "data.frames=16"])))
    (record,) = [r for r in caplog.records if "frame" in r.getMessage()]
    assert "pretrained on 16-frame clips but data.frames=4" in record.getMessage()
