"""Reports built from predictions: metric files and figures (numpy/matplotlib; no kedro, no mlflow)."""
