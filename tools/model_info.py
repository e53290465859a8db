"""`python tools/model_info.py` = `videosce-model-info` (videosce/jobs/model_info.py; --help says what it does)."""
from videosce.jobs.model_info import main

if __name__ == "__main__":
    main()
