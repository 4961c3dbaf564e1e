"""Entrypoint for `ray job submit --working-dir . -- python jobs/run_eval.py -c CONFIG [--set k=v ...]`.

It runs the same code as `ray-eval run` inside the job's driver (RAY_ADDRESS is set by the job, so the run
joins the cluster), and its exit status is the job's result: 0 passed, 1 failed, 2 bad input, 3 incomplete.

`--print-bundle RUN_DIR` (first; what `ray-eval ci submit` sends, RUN_DIR being the run's directory): after the run,
print what `ray-eval ci pack RUN_DIR` prints, the run's reports as one bundle (or the one line saying why there is
none), at the end of this job's own log. `ci submit` reads the reports back from the log it streams, so no second job
is needed to fetch them. The exit status stays the run's.
"""

import sys
from pathlib import Path

# The job's working directory holds this checkout; prefer its ray_eval over any installed copy.
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from ray_eval.cli import main

PRINT_BUNDLE = "--print-bundle"


def run_job(argv: list[str]) -> int:
    if argv[:1] != [PRINT_BUNDLE]:
        return main(["run", *argv])
    if len(argv) < 2:
        print(f"ray-eval: {PRINT_BUNDLE} needs the run directory (RUN_DIR) after it", file=sys.stderr)
        return 2
    run_dir, run_args = argv[1], argv[2:]
    exit_code = main(["run", *run_args])
    sys.stdout.flush()  # the run's own output first in the log, then the bundle
    main(["ci", "pack", run_dir])
    return exit_code


if __name__ == "__main__":
    sys.exit(run_job(sys.argv[1:]))
