"""`python tools/benchmark_retrieval.py` = `videosce-benchmark-retrieval` (videosce/jobs/benchmark_retrieval.py; --help says what it does)."""
from videosce.jobs.benchmark_retrieval import main

if __name__ == "__main__":
    main()
