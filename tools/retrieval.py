"""`python tools/retrieval.py` = `videosce-retrieval` (videosce/jobs/retrieval.py; --help says what it does)."""
from videosce.jobs.retrieval import main

if __name__ == "__main__":
    main()
