"""The evaluation library: a model's metrics file on a target's test split
(``metrics_file``) and the figures made from predictions and generated motions
(``plots``, ``interactive``, ``motion_plots``, ``prediction``); numpy, matplotlib and
plotly, no kedro, no mlflow. The ablation report (tables across runs) is
``pipelines/report``."""
