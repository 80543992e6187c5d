"""Readers of native dataset layouts, writers of stand-ins, custom Kedro datasets."""
