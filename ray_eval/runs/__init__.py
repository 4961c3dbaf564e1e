"""A run, and the directory it writes. The run itself: one evaluation end to end (run.py), the driver's side while
results stream in (streaming.py, progress.py), what follows the pipeline (finish.py), planning, resuming, re-gating
and listing run directories (rundir.py) and scoring a finished run again (rescore.py). The run directory: where its
files lie (layout.py), the one store that reads and writes them (store.py), its result files (results.py) and the
atomic writes every file goes through (atomic.py)."""
