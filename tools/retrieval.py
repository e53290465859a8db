"""Video retrieval R@k of one or more checkpoints (checkpoint=<path> | random | [a,b,random])."""
from __future__ import annotations

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from videosce.config import parse_cli  # noqa: E402
from videosce.errors import exit_on_user_error  # noqa: E402
from videosce.engine.run import eval_backbones, format_table, prepare_run, write_json  # noqa: E402
from videosce.engine.trainer import resolve_device  # noqa: E402
from videosce.eval.retrieval import evaluate_retrieval  # noqa: E402


def main(argv=None) -> None:
    cfg = parse_cli(__doc__, argv)
    with exit_on_user_error():
        run(cfg)


def run(cfg) -> None:
    output_dir = prepare_run(cfg)
    device = resolve_device(cfg.trainer.device)
    rows = {name: evaluate_retrieval(backbone, cfg, device) for name, backbone in eval_backbones(cfg)}
    write_json(output_dir / "retrieval.json", next(iter(rows.values())) if len(rows) == 1 else rows)
    print(format_table(rows))


if __name__ == "__main__":
    main()
