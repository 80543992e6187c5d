"""AdaptPose as a Kedro project."""

import logging

# kedro-mlflow's pipeline model (a pyfunc PythonModel whose ``predict`` has no type
# hints) makes MLflow warn when kedro-mlflow is imported, so every kedro command printed
# it. MLflow raises it under its own ``simplefilter("once")``, which overrides any
# warnings filter of ours, so the record is dropped where kedro logs warnings
# (``py.warnings``). This project serves its lifters through mlflow.pytorch
# (``datasets.kedro_io.MlflowLifterModelDataset``), never through that class.
_FOREIGN_WARNING = "Add type hints to the `predict` method"


class _DropForeignWarning(logging.Filter):
    def filter(self, record: logging.LogRecord) -> bool:
        return _FOREIGN_WARNING not in record.getMessage()


_warnings_logger = logging.getLogger("py.warnings")
if not any(isinstance(f, _DropForeignWarning) for f in _warnings_logger.filters):
    _warnings_logger.addFilter(_DropForeignWarning())

__version__ = "0.1.0"
