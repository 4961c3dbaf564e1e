"""Demo tooling, apart from the product: the synthetic ShopBench-shaped dataset behind `ray-eval dataset synth`
(synth/), the general-ability guard suite behind `ray-eval dataset guard` (guard.py) and the tiny random-weight
Qwen-VL model behind `ray-eval model tiny` (tiny_model.py), all built on this machine with no download, for smoke
runs and tests. The scripted stand-in engine and its oracle are in ray_eval/testing/, beside the other test
helpers."""
