"""Every Prometheus metric ray-eval exports, named in one place: the run exporter, the canary, the alert rules and the
dashboard all use these names, and tests check the rules and dashboard against them.

Conventions (https://prometheus.io/docs/practices/naming/): the `rayeval_` prefix; units in the name (`_seconds`,
`_ratio` for 0-1 values); `_total` only on counters; no per-sample labels (a label's values are bounded by the
taxonomy and the config: suites, subsets, formats, categories, error types, check names).

A series of one suite's results carries a `suite` label (the config's suite name; a one-suite run's too); the run's
own series (verdict, checks, progress, duration, latency, tokens) carry none.
"""

from __future__ import annotations

# ---- a run (`ray-eval run`), pushed to a Pushgateway or written as a node_exporter textfile ------------------------
# Grouping key of a pushed run: job, model, dataset, environment (metrics.* in the config).
RUN_INFO = "rayeval_run_info"  # gauge = 1; labels run_id, model_label, config_fingerprint, dataset_fingerprint
RUN_IN_PROGRESS = "rayeval_run_in_progress"  # gauge: 1 while the run streams results, 0 once it ended
RUN_PROGRESS = "rayeval_run_progress_ratio"  # gauge: result rows written / dataset rows
RUN_DURATION = "rayeval_run_duration_seconds"  # gauge: wall time of the run (at the end)
RUN_TIMESTAMP = "rayeval_run_timestamp_seconds"  # gauge: when the run ended (Unix time)
LAST_SUCCESS = "rayeval_last_success_timestamp_seconds"  # gauge: when a run last passed its gate (kept across runs)
SAMPLES = "rayeval_samples_total"  # counter; labels suite, status = ok | error
ERRORS = "rayeval_errors_total"  # counter; labels suite, stage, type
UNPARSED = "rayeval_unparsed_answers_total"  # counter; labels suite, format
TOKENS = "rayeval_tokens_total"  # counter; label kind = prompt | completion
LATENCY = "rayeval_inference_latency_seconds"  # histogram of successful requests' latency
SCORE = "rayeval_score_ratio"  # gauge: sample-weighted accuracy (0-1); labels suite, dimension, group
SCORE_CI_LOWER = "rayeval_score_ci_lower_ratio"  # gauge: lower end of its interval; labels suite, dimension, group
SCORE_CI_UPPER = "rayeval_score_ci_upper_ratio"  # gauge: upper end; labels suite, dimension, group
PASS = "rayeval_pass_ratio"  # gauge: sample-weighted pass rate (0-1); labels suite, dimension, group
GROUP_SAMPLES = "rayeval_group_samples"  # gauge: samples in the group; labels suite, dimension, group
PREVIOUS_SCORE = "rayeval_previous_score_ratio"  # gauge: the same group's score in the previous run pushed to the
#                                                  same target (absent for a first run); labels suite, dimension, group
GATE_PASSED = "rayeval_gate_passed"  # gauge: 1 when the gate passed, else 0
# gauge, one series per status (1 for the run's): passed|failed|undecided|incomplete
GATE_STATUS = "rayeval_gate_status"
GATE_CHECK_PASSED = "rayeval_gate_check_passed"  # gauge per configured check: 1 passed, 0 not; label check
# gauge; labels suite, diagnostic = MG|VNR|VIF, subset (or "overall")
VISUAL_DIAGNOSTIC = "rayeval_visual_diagnostic_ratio"
BASELINE_DELTA = "rayeval_baseline_delta_ratio"  # gauge: score difference to the baseline run (0-1 scale); label suite
# The series of one suite's results, each with a `suite` label; the run's other series are the run's own (no suite).
PER_SUITE = (SAMPLES, ERRORS, UNPARSED, SCORE, SCORE_CI_LOWER, SCORE_CI_UPPER, PASS, GROUP_SAMPLES, PREVIOUS_SCORE,
             VISUAL_DIAGNOSTIC, BASELINE_DELTA)
# `dimension` values of SCORE, PASS, GROUP_SAMPLES and the intervals, with `group` the name inside it.
DIMENSIONS = ("overall", "subset", "format", "input_type", "critical", "l1", "l2", "l3", "l4")

# ---- the canary (`ray-eval canary`), scraped from its /metrics -----------------------------------------------------
CANARY_ROUNDS = "rayeval_canary_rounds_total"  # counter: probe rounds finished
# counter; labels suite, subset, category, result (passed, failed, unparsed or error)
CANARY_PROBES = "rayeval_canary_probes_total"
CANARY_ERRORS = "rayeval_canary_errors_total"  # counter; label type (the engine error's type)
CANARY_LATENCY = "rayeval_canary_request_latency_seconds"  # histogram of answered probes' latency
CANARY_WINDOW_PASS = "rayeval_canary_window_pass_ratio"  # gauge, label suite: pass ratio over its last `window` probes
CANARY_WINDOW_PROBES = "rayeval_canary_window_probes"  # gauge: probes in that window (alerts need a minimum)
CANARY_WINDOW_UPPER = "rayeval_canary_window_pass_ratio_upper_bound"  # gauge: Wilson upper bound of the window ratio
CANARY_WINDOW_LOWER = "rayeval_canary_window_pass_ratio_lower_bound"  # gauge: Wilson lower bound
CANARY_LAST_SUCCESS = "rayeval_canary_last_success_timestamp_seconds"  # gauge: when a probe last passed
CANARY_LAST_ROUND = "rayeval_canary_last_round_timestamp_seconds"  # gauge: when the last round finished
CANARY_POOL = "rayeval_canary_pool_probes"  # gauge: probes in the pool the canary rotates through
CANARY_COVERAGE = "rayeval_canary_pool_coverage_ratio"  # gauge: share of the pool probed at least once
