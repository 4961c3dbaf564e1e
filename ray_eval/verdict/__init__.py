"""From result rows to a verdict: the scores by group (aggregate.py), their intervals and paired tests (stats.py),
the A/B comparison of two runs (compare.py) and its one-word verdict (comparison_verdict.py), the release gate
that turns them into checks, a verdict and an exit code (gate.py), and what a run concludes as typed, versioned
models: summary.json (summary_model.py). Nothing here runs Ray or talks to an engine."""
