from kedro.pipeline import Pipeline, node, pipeline

from adaptpose_pipeline.pipelines.predict.nodes import (
    lift_keypoints,
    plot_predicted_poses,
    poses_table,
    predict_report,
    predicted_bvh,
    read_user_keypoints,
    skeleton_viewer,
)


def create_pipeline(**kwargs) -> Pipeline:
    return pipeline(
        [
            node(read_user_keypoints, inputs=["predict_keypoints", "params:predict"], outputs="user_keypoints", name="read_user_keypoints"),
            node(
                lift_keypoints,
                inputs=["user_keypoints", "predict_lifter", "params:predict", "params:ingest", "params:target", "params:device"],
                outputs=["predicted_poses", "predict_lifting"],
                name="lift_user_keypoints",
            ),
            node(predict_report, inputs=["user_keypoints", "predict_lifting", "params:predict"], outputs="predict_report", name="predict_report"),
            node(poses_table, inputs="predicted_poses", outputs="predicted_poses_table", name="tabulate_predicted_poses"),
            node(skeleton_viewer, inputs=["predicted_poses", "params:predict"], outputs="predict_skeleton_viewer", name="view_predicted_skeletons"),
            node(predicted_bvh, inputs=["predicted_poses", "params:predict"], outputs="predicted_poses_bvh", name="write_predicted_bvh"),
            node(plot_predicted_poses, inputs=["predicted_poses", "params:predict"], outputs="predict_skeletons", name="plot_predicted_poses"),
        ],
        tags=["predict"],
    )
