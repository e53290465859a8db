"""Finetune backbone + linear classifier from one or more checkpoints; video-level top-1/top-5."""
from __future__ import annotations

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from videosce.config import parse_cli  # noqa: E402
from videosce.errors import exit_on_user_error  # noqa: E402
from videosce.engine.run import eval_backbones, format_table, prepare_run, write_json  # noqa: E402
from videosce.eval.finetune import finetune  # noqa: E402


def main(argv=None) -> None:
    cfg = parse_cli(__doc__, argv)
    with exit_on_user_error():
        run(cfg)


def run(cfg) -> None:
    output_dir = prepare_run(cfg)
    rows = {}
    for i, (name, backbone) in enumerate(eval_backbones(cfg)):
        rows[name] = finetune(backbone, cfg, output_dir / f"run{i}_{Path(name).stem}")
    write_json(output_dir / "finetune.json", next(iter(rows.values())) if len(rows) == 1 else rows)
    print(format_table(rows))


if __name__ == "__main__":
    main()
