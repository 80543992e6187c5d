"""Stand-in generator -> native files -> reader == the generator's ground truth."""

import json
from dataclasses import replace

import numpy as np
import pytest
import yaml

from adaptpose_pipeline.core.skeleton import H36M17
from adaptpose_pipeline.datasets import pw3d, ski
from adaptpose_pipeline.datasets.kedro_io import STANDIN_MARKER, NativeDataset
from adaptpose_pipeline.datasets import registry
from adaptpose_pipeline.standin.makers import make_3dpw, make_recordings
from tests.paths import ROOT
from tests.standin.ground_truth import to_pose_sequences

SPEC = yaml.safe_load((ROOT / "conf/base/parameters_standin.yml").read_text())["standin"]
SCALE = 0.2


@pytest.fixture(scope="module", params=["h36m", "3dhp", "3dpw", "ski"])
def round_trip(request, tmp_path_factory):
    ds = request.param
    recs = make_recordings(ds, SPEC[ds], SCALE, seed=0)
    path = tmp_path_factory.mktemp(ds) / "raw"
    NativeDataset(path=str(path), dataset=ds).save(recs)
    return ds, recs, {s.key: s for s in NativeDataset(path=str(path), dataset=ds).load().read()}


def test_reader_returns_the_generators_ground_truth(round_trip):
    ds, recs, got = round_trip
    truth = [s for r in recs for s in to_pose_sequences(r)]
    assert len(got) == len(truth)
    exact = list(range(17))
    if ds == "3dpw":  # the head top is re-derived from SMPL joints (documented table)
        exact = [H36M17.index(j) for j in pw3d.H36M_FROM_SMPL]
    for exp in truth:
        s = got[exp.key]
        assert (s.split, s.fps) == (exp.split, exp.fps)
        if ds == "ski":
            # Ski stores root-relative 3D and 2D in a 256 px crop around the person.
            expected_3d = exp.joints_3d_cam[exp.valid] - exp.joints_3d_cam[exp.valid, :1]
            np.testing.assert_allclose(s.joints_3d_cam, expected_3d, atol=1e-5)
            assert s.image_size == (ski.CROP_SIZE, ski.CROP_SIZE) and s.root_relative
            np.testing.assert_allclose(s.joints_2d[:, 0], ski.CROP_SIZE / 2, atol=1e-3)
            continue
        np.testing.assert_allclose(s.joints_3d_cam[:, exact], exp.joints_3d_cam[:, exact], atol=1e-5)
        np.testing.assert_allclose(s.joints_2d[:, exact], exp.joints_2d[:, exact], atol=2e-3)
        np.testing.assert_array_equal(s.valid, exp.valid)
        assert s.image_size == exp.image_size
        np.testing.assert_allclose(s.f, exp.f, rtol=1e-6)
        np.testing.assert_allclose(s.c, exp.c, rtol=1e-6)


def test_stand_ins_keep_people_in_view_and_in_front(round_trip):
    ds, recs, got = round_trip
    for s in got.values():
        assert np.isfinite(s.joints_2d).all()
        if ds in ("h36m", "3dhp"):  # fixed cameras frame the whole capture
            w, h = s.image_size
            assert (s.joints_2d[s.valid] >= 0).all() and (s.joints_2d[s.valid, :, 0] <= w).all()
            assert (s.joints_2d[s.valid, :, 1] <= h).all()
        if not s.root_relative:
            assert (s.joints_3d_cam[s.valid, :, 2] > 0.5).all()


def test_same_seed_same_files_other_seed_other_motion(tmp_path):
    a = make_recordings("3dpw", SPEC["3dpw"], SCALE, seed=0)
    b = make_recordings("3dpw", SPEC["3dpw"], SCALE, seed=0)
    c = make_recordings("3dpw", SPEC["3dpw"], SCALE, seed=1)
    assert all(np.array_equal(x.joints_world, y.joints_world) for x, y in zip(a, b))
    assert not np.allclose(a[0].joints_world, c[0].joints_world)
    NativeDataset(path=str(tmp_path / "a"), dataset="3dpw").save(a)
    NativeDataset(path=str(tmp_path / "b"), dataset="3dpw").save(b)
    files = sorted(p.relative_to(tmp_path / "a") for p in (tmp_path / "a").rglob("*.pkl"))
    assert files
    for f in files:
        assert (tmp_path / "a" / f).read_bytes() == (tmp_path / "b" / f).read_bytes()


def test_domain_gaps_between_stand_ins():
    def cams(ds):
        recs = make_recordings(ds, SPEC[ds], SCALE, seed=0)
        return np.array([np.mean(np.linalg.norm(r.cameras[0].position - r.joints_world[:, 0], axis=-1)) for r in recs]), recs

    d_h36m, _ = cams("h36m")
    d_3dpw, _ = cams("3dpw")
    d_ski, recs_ski = cams("ski")
    assert d_ski.min() > 15 > d_h36m.max() and d_3dpw.mean() < d_h36m.mean()
    assert min(np.mean(r.cameras[0].f) for r in recs_ski) > 3000


def test_save_never_overwrites_real_data(tmp_path):
    real = tmp_path / "real"
    real.mkdir()
    (real / "data_3d_h36m.npz").write_bytes(b"the user's data")
    NativeDataset(path=str(real), dataset="h36m").save(make_recordings("h36m", SPEC["h36m"], SCALE, seed=0))
    assert (real / "data_3d_h36m.npz").read_bytes() == b"the user's data"
    assert not (real / STANDIN_MARKER).exists()


def test_save_replaces_a_stand_in_atomically(tmp_path, monkeypatch):
    path = tmp_path / "raw"
    ds = NativeDataset(path=str(path), dataset="3dpw")
    ds.save(make_recordings("3dpw", SPEC["3dpw"], SCALE, seed=0))
    before = sorted(p.name for p in path.rglob("*"))
    assert json.loads((path / STANDIN_MARKER).read_text())["dataset"] == "3dpw"

    def crash(root, recordings):
        (root / "half_written").write_text("x")
        raise RuntimeError("killed while writing")

    monkeypatch.setitem(registry._DATASETS, "3dpw", replace(registry.get("3dpw"), standin=registry.Standin(make_3dpw, crash)))
    with pytest.raises(Exception, match="killed while writing"):
        ds.save(make_recordings("3dpw", SPEC["3dpw"], SCALE, seed=1))
    assert sorted(p.name for p in path.rglob("*")) == before
    assert not [p for p in tmp_path.iterdir() if p.name.startswith(".")]
