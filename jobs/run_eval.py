"""Entrypoint for `ray job submit --working-dir . -- python jobs/run_eval.py -c CONFIG [--set k=v ...]`.

It runs the same code as `ray-eval run` inside the job's driver (RAY_ADDRESS is set by the job, so the run
joins the cluster), and its exit status is the job's result: 0 passed, 1 failed, 2 bad input, 3 incomplete.
"""

import sys
from pathlib import Path

# The job's working directory holds this checkout; prefer its ray_eval over any installed copy.
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from ray_eval.cli import main  # noqa: E402

if __name__ == "__main__":
    sys.exit(main(["run", *sys.argv[1:]]))
