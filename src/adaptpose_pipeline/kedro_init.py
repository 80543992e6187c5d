"""Run by kedro's command line before it loads plugins (``kedro.init`` entry point in
pyproject.toml): importing the package installs its log filter for a foreign warning (see
``adaptpose_pipeline/__init__.py``) early enough for the plugins' imports."""


def init() -> None:
    """Nothing more to do: the import of this module did it."""
