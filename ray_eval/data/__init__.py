"""The dataset side: ShopBench's fixed vocabulary (taxonomy.py), the readers that turn a manifest, a seed-article
suite or a VLMEvalKit TSV into samples (readers/), the run's one validating scan of a dataset and the Ray Data source
that streams its rows (dataset.py), and `ray-eval dataset validate` (validate.py)."""
