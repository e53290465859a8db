"""`python tools/pretrain.py` = `videosce-pretrain` (videosce/jobs/pretrain.py; --help says what it does)."""
from videosce.jobs.pretrain import main

if __name__ == "__main__":
    main()
