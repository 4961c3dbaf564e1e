"""From result rows to a verdict: the scores by group (aggregate.py), their intervals and paired tests (stats.py),
the A/B comparison of two runs (compare.py) and its one-word verdict (comparison_verdict.py), and the release gate
that turns them into checks, a verdict and an exit code (gate.py). Nothing here runs Ray or talks to an engine."""
