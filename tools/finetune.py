"""`python tools/finetune.py` = `videosce-finetune` (videosce/jobs/finetune.py; --help says what it does)."""
from videosce.jobs.finetune import main

if __name__ == "__main__":
    main()
