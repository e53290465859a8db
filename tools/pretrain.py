"""Self-supervised pretraining (SCE by default), then retrieval R@k of the trained backbone."""
from __future__ import annotations

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from videosce.config import parse_cli  # noqa: E402
from videosce.errors import exit_on_user_error  # noqa: E402


def main(argv=None) -> None:
    cfg = parse_cli(__doc__, argv, job="pretrain")
    from videosce.pretrain import pretrain  # imports torch: only once the config is known good

    with exit_on_user_error():
        pretrain(cfg)


if __name__ == "__main__":
    main()
