"""`python tools/linear.py` = `videosce-linear` (videosce/jobs/linear.py; --help says what it does)."""
from videosce.jobs.linear import main

if __name__ == "__main__":
    main()
