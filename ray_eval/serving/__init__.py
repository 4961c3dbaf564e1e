"""Serving the model: Ray Serve apps (vLLM on GPUs and on CPU) and the tiny local model for smoke runs."""
