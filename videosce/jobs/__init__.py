"""The jobs: what a command runs, from a whole config to its results, above engine/ and eval/.

Each job module has `run(cfg)` (the work; returns its results) and `main(argv=None)` (the command
line: `videosce-<job>` and `python tools/<job>.py`). A job module imports only the torch-free
config at load and the rest inside `run`, so `main` answers a config mistake before torch is
imported. `run` joins the process group first (`videosce.utils.dist.setup`), before it reads an
index or writes anything, then generates demo data if asked (`common.prepare_data`), then passes
each component its own config section plus explicit arguments. Nothing below imports a job.
"""
