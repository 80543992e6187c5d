"""Pure numpy/torch library: geometry, models, losses, metrics. Never imports kedro or mlflow."""
