import builtins
import os
import pickle

import numpy as np
import pytest

from adaptpose_pipeline.datasets import h36m, h36m_cameras, pw3d, safe_pickle
from adaptpose_pipeline.datasets.common import DataError


class _Touch:
    """Unpickling this creates ``path`` (through ``builtins.open``)."""

    def __init__(self, path):
        self.path = str(path)

    def __reduce__(self):
        return (builtins.open, (self.path, "w"))


class _Shell:
    """Unpickling this runs a shell command that creates ``path``."""

    def __init__(self, path):
        self.path = str(path)

    def __reduce__(self):
        return (os.system, (f"touch {self.path}",))


@pytest.fixture(params=[_Touch, _Shell])
def payload(request, tmp_path):
    created = tmp_path / "created_by_payload"
    return request.param(created), created, r"\.open" if request.param is _Touch else r"\.system"


def test_payloads_work_with_plain_pickle(tmp_path):
    # The control: plain pickle does run them, so the refusals below are real.
    created = tmp_path / "created"
    pickle.loads(pickle.dumps(_Touch(created))).close()
    assert created.exists()


def test_refused_pickle_names_file_and_global_and_creates_nothing(tmp_path, payload):
    evil, created, name = payload
    path = tmp_path / "data.pkl"
    path.write_bytes(pickle.dumps({"cams": [1, evil]}, protocol=2))
    with pytest.raises(DataError, match=rf"data\.pkl: refused to unpickle global \S*{name}"):
        safe_pickle.load_pickle(path)
    assert not created.exists()


def test_h36m_camera_pkl_npz_and_3dpw_pickle_refuse_payloads(tmp_path, payload):
    evil, created, name = payload
    refused = rf"refused to unpickle global \S*{name}"

    cams = tmp_path / "h36m_cams"
    cams.mkdir()
    (cams / "cameras.pkl").write_bytes(pickle.dumps({("S1", "54138969"): {"R": evil}}))
    with pytest.raises(DataError, match=r"cameras\.pkl: " + refused):
        h36m_cameras.cameras_for_root(cams)

    npz_root = tmp_path / "h36m_npz"
    npz_root.mkdir()
    np.savez(npz_root / h36m.FILE_3D, positions_3d=np.array({"S1": {"Walking": evil}}, dtype=object))
    np.savez(npz_root / h36m.FILE_2D, positions_2d=np.array({}, dtype=object))
    with pytest.raises(DataError, match=r"data_3d_h36m\.npz: 'positions_3d': " + refused):
        h36m.read_h36m(npz_root)

    split = tmp_path / "pw3d" / "sequenceFiles" / "test"
    split.mkdir(parents=True)
    (split / "evil_00.pkl").write_bytes(pickle.dumps({"sequence": "evil_00", "poses": [evil]}, protocol=2))
    with pytest.raises(DataError, match=r"evil_00\.pkl: " + refused):
        pw3d.read_3dpw(tmp_path / "pw3d", splits=("test",))
    assert not created.exists()


@pytest.mark.parametrize("protocol", [2, 3, 4, 5])
def test_arrays_scalars_and_containers_load(tmp_path, protocol):
    data = {
        "a": np.arange(6, dtype=np.float32).reshape(2, 3), "empty": np.zeros((0, 3)), "s": {1, 2},
        "f": frozenset({"x"}), "t": (np.float64(1.5), np.int64(2), b"raw", "text", None, True, 1 + 2j),
        "nested": [{"k": np.array(["m", "f"])}],
    }  # fmt: skip
    path = tmp_path / "ok.pkl"
    path.write_bytes(pickle.dumps(data, protocol=protocol))
    got = safe_pickle.load_pickle(path, encoding="latin1")
    np.testing.assert_array_equal(got["a"], data["a"])
    assert got["empty"].shape == (0, 3) and got["s"] == {1, 2} and got["f"] == frozenset({"x"})
    assert got["t"] == data["t"] and list(got["nested"][0]["k"]) == ["m", "f"]


def test_npz_plain_and_object_members(tmp_path):
    path = tmp_path / "x.npz"
    np.savez(path, plain=np.arange(4.0), fortran=np.asfortranarray(np.arange(6).reshape(2, 3)), obj={"S1": [np.ones(2)]})
    np.testing.assert_array_equal(safe_pickle.load_npz_object(path, "plain"), np.arange(4.0))
    np.testing.assert_array_equal(safe_pickle.load_npz_object(path, "fortran"), np.arange(6).reshape(2, 3))
    assert safe_pickle.load_npz_object(path, "obj")["S1"][0].tolist() == [1.0, 1.0]
    with pytest.raises(DataError, match=r"x\.npz: expected key 'nope', found keys \['fortran', 'obj', 'plain'\]"):
        safe_pickle.load_npz_object(path, "nope")
