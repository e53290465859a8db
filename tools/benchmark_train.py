"""`python tools/benchmark_train.py` = `videosce-benchmark-train` (videosce/jobs/benchmark_train.py; --help says what it does)."""
from videosce.jobs.benchmark_train import main

if __name__ == "__main__":
    main()
