"""A run directory: where its files lie (layout.py), the one store that reads and writes them (store.py), its result
files (results.py) and the atomic writes every file goes through (atomic.py)."""
