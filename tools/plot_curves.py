"""`python tools/plot_curves.py` = `videosce-plot-curves` (videosce/jobs/plot_curves.py; --help says what it does)."""
from videosce.jobs.plot_curves import main

if __name__ == "__main__":
    main()
