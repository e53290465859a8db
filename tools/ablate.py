"""`python tools/ablate.py` = `videosce-ablate` (videosce/jobs/ablate.py; --help says what it does)."""
from videosce.jobs.ablate import main

if __name__ == "__main__":
    main()
