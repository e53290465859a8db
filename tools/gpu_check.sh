#!/usr/bin/env bash
# The GPU check, one command on a machine with one CUDA GPU and `pip install -e ".[test,dali]"`:
# the `gpu` tests (AMP, channels_last, torch.compile, CUDA RNG resume, SyncBN, DALI NVDEC batches,
# device augmentation on CUDA), then tools/benchmark_train.py's table (clips/s and GPU busy % per
# model x video size x data pipeline). Budget: under 8 minutes on one GPU with 16 CPU cores.
# --dry-run: both steps on the CPU with tiny settings (the gpu tests skip): what CI exercises.
set -uo pipefail
cd "$(dirname "$0")/.."
started=$(date +%s)
python -m pytest -q -m gpu tests
tests=$?
python tools/benchmark_train.py "$@"
bench=$?
echo "gpu_check: gpu tests exit ${tests}, benchmark exit ${bench}, $(( $(date +%s) - started )) s"
exit $(( tests != 0 ? tests : bench ))
