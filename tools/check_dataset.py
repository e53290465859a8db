"""`python tools/check_dataset.py` = `videosce-check-dataset` (videosce/jobs/check_dataset.py; --help says what it does)."""
from videosce.jobs.check_dataset import main

if __name__ == "__main__":
    main()
