"""Serving the model: the Ray Serve apps of a serve_configs file deployed for a run and taken down after it
(serve_app.py), and those configs checked before they reach a GPU cluster (serve_configs.py)."""
