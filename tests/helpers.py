"""Helpers shared by the test modules (importable because pytest puts tests/ on sys.path)."""
import importlib.util
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]


def run_tool(name, *args):
    """A tool's main() in this process (no interpreter start-up per call)."""
    spec = importlib.util.spec_from_file_location(f"tool_{name}", ROOT / "tools" / f"{name}.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    module.main([str(a) for a in args])


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
