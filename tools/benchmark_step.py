"""`python tools/benchmark_step.py` = `videosce-benchmark-step` (videosce/jobs/benchmark_step.py; --help says what it does)."""
from videosce.jobs.benchmark_step import main

if __name__ == "__main__":
    main()
