"""One sub-package per pipeline (nodes.py + pipeline.py), found by the registry."""
