"""A small synthetic action dataset in the official UCF101 layout, for runs without real data.

Each class is WHAT moves and HOW: an object of one shape and surface pattern (a striped
circle bouncing horizontally, a plain square rotating, ...). Colours (drifting within a video),
per-frame grain, size, position, speed and direction are random per video, so telling classes
apart needs the object's shape, pattern and motion, not its colour. Videos are real H.264 MP4
files, so the whole pipeline (decoder, UCF101 split reader, sampler) is exercised.

Why patterns: with plain shapes a tiny 3D CNN learns nothing usable within the demo's CPU budget,
even supervised; a two-colour surface pattern is a cue such a network picks up in a few hundred
steps under the demo's augmentations.
"""
from __future__ import annotations

import json
import os
import time
from pathlib import Path
from typing import Dict, Tuple, Union

import av
import numpy as np
from tqdm import tqdm

PathLike = Union[str, Path]

# (shape, surface pattern, motion) per class; names are CamelCase like UCF101's.
_CLASS_SPECS: Dict[str, Tuple[str, str, str]] = {
    "CircleHorizontal": ("circle", "stripes", "horizontal"),
    "CircleVertical": ("circle", "rings", "vertical"),
    "CirclePulse": ("circle", "dots", "pulse"),
    "SquareHorizontal": ("square", "checker", "horizontal"),
    "SquareVertical": ("square", "halves", "vertical"),
    "SquareRotate": ("square", "plain", "rotate"),
}
DEMO_CLASSES: Tuple[str, ...] = tuple(_CLASS_SPECS)

NUM_GROUPS = 10  # like UCF101's 25 groups: clips of one group never straddle train and test
NUM_SPLITS = 3
MARKER = ".complete"
FORMAT_VERSION = 4  # bump when rendering changes, so existing demo data is regenerated
MIN_LUMA_GAP = 72.0  # object vs background brightness gap, so shapes stay visible in grey
OBJECT_RADIUS = (0.18, 0.26)  # of the frame side


def _luma(rgb: np.ndarray) -> float:
    return float(rgb @ np.array([0.299, 0.587, 0.114]))


def _colour_against(background: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """A random colour clearly brighter or darker than `background` (visible even in grey)."""
    while True:
        colour = rng.integers(0, 256, 3)
        if abs(_luma(colour) - _luma(background)) >= MIN_LUMA_GAP:
            return colour


def _object_coords(dx: np.ndarray, dy: np.ndarray, r: np.ndarray, angle: np.ndarray) -> Tuple[np.ndarray, np.ndarray]:
    """Offsets from the centre in the object's own rotated frame, in units of its size `r`."""
    return (dx * np.cos(angle) + dy * np.sin(angle)) / r, (-dx * np.sin(angle) + dy * np.cos(angle)) / r


def _pattern_mask(pattern: str, u: np.ndarray, v: np.ndarray) -> np.ndarray:
    """Where the object shows its second colour, from object coordinates (moves, turns and scales with it)."""
    if pattern == "stripes":
        return np.sin(2 * np.pi * u) > 0
    if pattern == "rings":
        return np.sin(2.5 * np.pi * np.sqrt(u * u + v * v)) > 0
    if pattern == "checker":
        return (np.floor(1.5 * u) + np.floor(1.5 * v)) % 2 == 0
    if pattern == "halves":
        return u > 0
    if pattern == "dots":
        return (np.mod(1.5 * u, 1) - 0.5) ** 2 + (np.mod(1.5 * v, 1) - 0.5) ** 2 < 0.09
    return np.zeros(np.broadcast(u, v).shape, dtype=bool)  # plain


def _bounce(start: float, velocity: float, lo: float, hi: float, t: np.ndarray) -> np.ndarray:
    """Positions of a point moving at `velocity` between walls lo and hi, reflecting off them."""
    span = hi - lo
    q = np.mod(start - lo + velocity * t, 2 * span)
    return lo + np.where(q <= span, q, 2 * span - q)


def _render_clip(class_name: str, num_frames: int, size: int, rng: np.random.Generator) -> np.ndarray:
    """uint8 (T, size, size, 3) RGB frames of one random instance of `class_name`."""
    shape, pattern, motion = _CLASS_SPECS[class_name]
    t = np.arange(num_frames, dtype=np.float64)[:, None, None]
    grid = np.arange(size) + 0.5
    yy, xx = grid[None, :, None], grid[None, None, :]

    # Colour is what a contrastive method could match between two clips of one video instead of
    # shape, pattern and motion, so it changes within the video: background and object colours
    # drift from one random colour to another, with fresh grain every frame.
    progress = t / max(num_frames - 1, 1)
    backgrounds = [rng.integers(0, 256, 3) for _ in range(2)]
    objects = [_colour_against(colour, rng) for colour in backgrounds]
    background = (1 - progress[..., None]) * backgrounds[0] + progress[..., None] * backgrounds[1]
    background = background + rng.normal(0.0, 6.0, (num_frames, size, size, 1))
    object_colour = (1 - progress[..., None]) * objects[0] + progress[..., None] * objects[1]

    # Moving object; a square's half side gives the same area as a circle of radius r.
    r = rng.uniform(*OBJECT_RADIUS) * size
    if shape == "square":
        r *= np.sqrt(np.pi) / 2
    angle = np.full_like(t, rng.uniform(0, 2 * np.pi))
    scale = np.ones_like(t)
    if motion == "pulse":
        amplitude, period = rng.uniform(0.3, 0.5), rng.uniform(8, 16)
        scale = 1 + amplitude * np.sin(2 * np.pi * t / period + rng.uniform(0, 2 * np.pi))
    if motion == "rotate":
        angle = angle + rng.choice([-1, 1]) * rng.uniform(0.12, 0.3) * t
    # Largest half extent over the clip, so the object never leaves the frame.
    extent = r * scale.max() * (np.sqrt(2) if shape == "square" else 1.0)
    cx, cy = rng.uniform(extent, size - extent, 2)
    if motion in ("horizontal", "vertical"):
        velocity = rng.choice([-1, 1]) * rng.uniform(0.03, 0.07) * size
        if motion == "horizontal":
            cx = _bounce(cx, velocity, extent, size - extent, t)
        else:
            cy = _bounce(cy, velocity, extent, size - extent, t)
    dx, dy, radius = xx - cx, yy - cy, r * scale
    u, v = _object_coords(dx, dy, radius, angle)  # for a square, `radius` is the half side
    mask = dx * dx + dy * dy <= radius * radius if shape == "circle" else np.maximum(np.abs(u), np.abs(v)) <= 1
    second = _pattern_mask(pattern, u, v)
    surface = np.where(second[..., None], 255.0 - object_colour, object_colour)  # the complementary colour
    frames = np.where(mask[..., None], surface, background)
    return np.clip(np.rint(frames), 0, 255).astype(np.uint8)


def _write_mp4(path: Path, frames: np.ndarray, fps: int) -> None:
    """H.264/yuv420p MP4 written under a temporary name and renamed, so no half file is left."""
    partial = path.with_name(path.name + ".partial")
    with av.open(str(partial), "w", format="mp4") as container:
        # Reproducible bytes: one encoder thread, and no macroblock-tree rate control, which made
        # x264 emit different streams for identical frames (a few % of runs on these tiny sizes).
        options = {"crf": "18", "threads": "1", "x264-params": "mbtree=0"}
        stream = container.add_stream("libx264", rate=fps, options=options)
        stream.width, stream.height, stream.pix_fmt = frames.shape[2], frames.shape[1], "yuv420p"
        for frame in frames:
            container.mux(stream.encode(av.VideoFrame.from_ndarray(frame, format="rgb24")))
        container.mux(stream.encode())
    os.replace(partial, path)


def _write_text(path: Path, text: str) -> None:
    partial = path.with_name(path.name + ".partial")
    partial.write_text(text)
    os.replace(partial, path)


def _params(videos_per_class: int, num_frames: int, size: int, fps: int, seed: int) -> Dict[str, object]:
    """The recorded generation parameters; a mismatch with the marker triggers regeneration."""
    if videos_per_class <= 0 or videos_per_class % NUM_GROUPS:
        raise ValueError(f"videos_per_class must be a positive multiple of {NUM_GROUPS} (groups), got {videos_per_class}")
    if num_frames < 2:
        raise ValueError(f"num_frames must be at least 2, got {num_frames}")
    if size < 16 or size % 2:
        raise ValueError(f"size must be an even number >= 16 (yuv420p needs even sizes), got {size}")
    if fps < 1:
        raise ValueError(f"fps must be >= 1, got {fps}")
    return {
        "version": FORMAT_VERSION,
        "classes": list(DEMO_CLASSES),
        "videos_per_class": videos_per_class,
        "num_frames": num_frames,
        "size": size,
        "fps": fps,
        "seed": seed,
    }


def _clip_name(class_name: str, group: int, clip: int) -> str:
    return f"v_{class_name}_g{group:02d}_c{clip:02d}.mp4"


def make_demo_dataset(
    root: PathLike,
    videos_per_class: int = 40,
    num_frames: int = 32,
    size: int = 64,
    fps: int = 16,
    seed: int = 0,
    progress: bool = True,
) -> Path:
    """(Re)generate the demo dataset under `root` (videos/ and splits/); returns `root`.

    The `.complete` marker is removed first and written last, so an interrupted run is redone.
    Single writer: in distributed runs let one process call this before the others read.
    """
    params = _params(videos_per_class, num_frames, size, fps, seed)
    root = Path(root)
    marker = root / MARKER
    marker.unlink(missing_ok=True)
    clips_per_group = videos_per_class // NUM_GROUPS
    videos_dir, splits_dir = root / "videos", root / "splits"
    splits_dir.mkdir(parents=True, exist_ok=True)

    start = time.perf_counter()
    with tqdm(total=len(DEMO_CLASSES) * videos_per_class, desc="demo videos", disable=not progress) as bar:
        for class_index, class_name in enumerate(DEMO_CLASSES):
            class_dir = videos_dir / class_name
            class_dir.mkdir(parents=True, exist_ok=True)
            names = set()
            for video_index in range(videos_per_class):
                group, clip = divmod(video_index, clips_per_group)
                name = _clip_name(class_name, group + 1, clip + 1)
                rng = np.random.default_rng([seed, class_index, video_index])
                _write_mp4(class_dir / name, _render_clip(class_name, num_frames, size, rng), fps)
                names.add(name)
                bar.update()
            # clips (or leftovers) of an earlier generation with other parameters
            for stale in class_dir.glob("v_*.mp4*"):
                if stale.name not in names:
                    stale.unlink()

    _write_text(splits_dir / "classInd.txt", "".join(f"{i} {c}\n" for i, c in enumerate(DEMO_CLASSES, 1)))
    for split in range(1, NUM_SPLITS + 1):
        test_groups = {2 * split - 1, 2 * split}
        train, test = [], []
        for label, class_name in enumerate(DEMO_CLASSES, 1):
            for group in range(1, NUM_GROUPS + 1):
                for clip in range(1, clips_per_group + 1):
                    rel = f"{class_name}/{_clip_name(class_name, group, clip)}"
                    if group in test_groups:
                        test.append(rel)
                    else:
                        train.append(f"{rel} {label}")
        _write_text(splits_dir / f"trainlist0{split}.txt", "".join(f"{line}\n" for line in train))
        _write_text(splits_dir / f"testlist0{split}.txt", "".join(f"{line}\n" for line in test))

    _write_text(marker, json.dumps(params, indent=2) + "\n")
    if progress:
        print(f"demo dataset: {len(DEMO_CLASSES) * videos_per_class} videos in {time.perf_counter() - start:.1f} s at {root}")
    return root


def ensure_demo_dataset(
    root: PathLike,
    videos_per_class: int = 40,
    num_frames: int = 32,
    size: int = 64,
    fps: int = 16,
    seed: int = 0,
    progress: bool = True,
) -> Path:
    """Generate the demo dataset unless `root` holds a complete one made with the same parameters."""
    root = Path(root)
    params = _params(videos_per_class, num_frames, size, fps, seed)
    try:
        complete = json.loads((root / MARKER).read_text()) == params
    except (FileNotFoundError, json.JSONDecodeError):
        complete = False
    if not complete:
        make_demo_dataset(root, videos_per_class, num_frames, size, fps, seed, progress)
    return root
