"""Helpers shared by the test modules (importable because pytest puts tests/ on sys.path)."""
import importlib.util
from pathlib import Path

import av
import numpy as np
import pytest
import torch

ROOT = Path(__file__).resolve().parents[1]


def run_tool(name, *args):
    """A tool's main() in this process (no interpreter start-up per call)."""
    spec = importlib.util.spec_from_file_location(f"tool_{name}", ROOT / "tools" / f"{name}.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    module.main([str(a) for a in args])


def interrupt_at_epoch_end(n):
    """An epoch-end check that raises KeyboardInterrupt at the n-th epoch end (a crash before that
    epoch's checkpoint)."""
    calls = []

    def check():
        calls.append(1)
        if len(calls) == n:
            raise KeyboardInterrupt

    return check


def demo_data(root):
    """Overrides that point a demo config at the small generated dataset of the `demo_root` fixture."""
    return [f"data.video_root={root / 'videos'}", f"data.split_dir={root / 'splits'}", "data.format=ucf101", "data.num_workers=0",
            "data.size=24", "data.eval_short_side=28", "data.eval_clips=2", "data.frames=4", "data.stride=2"]


def require(backend):
    """Skip unless the decoder backend's optional library is installed and loads."""
    from videosce.data.decoders import DECODERS, MissingDependencyError, get_decoder

    pytest.importorskip(DECODERS.info(backend)["module"])
    try:
        get_decoder(backend)
    except MissingDependencyError as exc:
        pytest.skip(str(exc))
def small_split(demo_root, tmp_path, per_class):
    """A split 1 with `per_class` = (train, test) videos of each class, to keep the 112px VCOP clips cheap."""
    splits = tmp_path / "splits"
    splits.mkdir()
    (splits / "classInd.txt").write_text((demo_root / "splits" / "classInd.txt").read_text())
    for subset, count in zip(("train", "test"), per_class):
        lines, seen = [], {}
        for line in (demo_root / "splits" / f"{subset}list01.txt").read_text().splitlines():
            name = line.split("/")[0]
            seen[name] = seen.get(name, 0) + 1
            lines += [line] if seen[name] <= count else []
        (splits / f"{subset}list01.txt").write_text("\n".join(lines) + "\n")
    return splits


# ---- components wired as the jobs wire them: each takes its section plus explicit arguments


def normalization(cfg):
    from videosce.data.builders import clip_normalization

    return clip_normalization(cfg.data, cfg.model.backbone)


def bad_log(cfg):
    return Path(cfg.output_dir) / "bad_videos.txt"


def train_dataset(cfg, index, num_clips=2, local_views=None):
    """The pretraining job's dataset: the data section, the run's normalisation, seed, bad-video log, VCLR segments
    and local views (data.local_views unless given)."""
    from videosce.data.builders import build_train_dataset

    local = cfg.data.local_views if local_views is None else local_views
    return build_train_dataset(cfg.data, index, num_clips=num_clips, normalization=normalization(cfg), seed=cfg.seed,
                               bad_video_log=bad_log(cfg), segments=cfg.method.vclr.segments, local_views=local)


def eval_dataset(cfg, index):
    from videosce.data.builders import build_eval_dataset

    return build_eval_dataset(cfg.data, cfg.eval, index, normalization=normalization(cfg), bad_video_log=bad_log(cfg))


def eval_context(cfg, cache=None, run_dir=None):
    """Where an evaluation of `cfg` runs (CPU) and writes (its output_dir, or `run_dir`)."""
    import torch

    from videosce.eval import EvalContext

    return EvalContext(Path(run_dir or cfg.output_dir), torch.device("cpu"), bad_log(cfg), cache)


def write_vp9(path: Path, num_frames: int, height: int, width: int, seed: int) -> Path:
    """A smooth random texture (random colours 6 pixels apart, interpolated: colour conversions agree
    on it) moving one pixel per frame (no two frames alike), VP9 with a keyframe every 8 frames
    (what DALI decodes on a CPU)."""
    rng = np.random.default_rng(seed)
    grid = (1, 1, height // 6 + 2, (width + num_frames) // 6 + 2)
    coarse = torch.from_numpy(rng.uniform(16, 235, grid) + rng.uniform(-20, 20, (1, 3) + grid[2:]))
    smooth = torch.nn.functional.interpolate(coarse, size=(height, width + num_frames), mode="bilinear", align_corners=True)
    texture = smooth[0].permute(1, 2, 0).round().to(torch.uint8).numpy()
    with av.open(str(path), "w") as container:
        stream = container.add_stream("libvpx-vp9", rate=25, options={"g": "8", "crf": "20", "deadline": "realtime", "cpu-used": "8"})
        stream.width, stream.height, stream.pix_fmt = width, height, "yuv420p"
        for i in range(num_frames):
            frame = av.VideoFrame.from_ndarray(np.ascontiguousarray(texture[:, i : i + width]), format="rgb24")
            container.mux(stream.encode(frame))
        container.mux(stream.encode())
    return path
