"""`python tools/benchmark_data.py` = `videosce-benchmark-data` (videosce/jobs/benchmark_data.py; --help says what it does)."""
from videosce.jobs.benchmark_data import main

if __name__ == "__main__":
    main()
