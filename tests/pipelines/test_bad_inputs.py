"""The bad-input catalogue, end to end: each case is a real ``kedro run`` that must stop
with a message naming the file or key, and leave ``data/`` exactly as it was.

The full catalogue (docs/reliability.md) has many more cases, tested where they are
raised (tests/datasets/*, tests/test_hooks.py); these show the "nothing written" half.
"""

import pickle
import shutil

import numpy as np
import pytest


def _snapshot(project) -> dict:
    return {str(p.relative_to(project.path)): p.stat().st_mtime_ns for p in project.files("data") if "01_raw" not in p.parts}


def _truncate(path):
    data = path.read_bytes()
    path.write_bytes(data[: len(data) // 3])


def _nan_in_3dpw(path):
    with open(path, "rb") as fh:
        seq = pickle.load(fh, encoding="latin1")
    seq["jointPositions"][0][1, 4] = np.nan
    with open(path, "wb") as fh:
        pickle.dump(seq, fh, protocol=2)


def _first(project, pattern):
    return sorted(project.path.glob(pattern))[0]


CASES = {
    # id: (file to damage (glob under data/01_raw) or None, damage, kedro args, expected text)
    "unknown target": (None, None, ["--pipeline=ingest", "--params", "target=mars"], "target: unknown target 'mars'"),
    "selection.b <= 0": (None, None, ["--pipeline=adapt", "--params", "target=3dhp,adapt.selection.b=0"], "adapt.selection.b: Input should be greater than 0 (got 0)"),
    "wrong parameter type": (None, None, ["--pipeline=pretrain", "--params", "target=ski,pretrain.train.epochs=ten"], "pretrain.train.epochs: Input should be a valid integer (got 'ten')"),
    "truncated H36M archive": ("h36m/data_3d_h36m.npz", _truncate, ["--pipeline=ingest", "--params", "target=3dhp"], "data_3d_h36m.npz"),
    "truncated Ski labels": ("ski/train/labels.h5", _truncate, ["--pipeline=ingest", "--params", "target=ski"], "labels.h5"),
    "NaN in a 3DPW pickle": ("3dpw/sequenceFiles/test/*.pkl", _nan_in_3dpw, ["--pipeline=ingest", "--params", "target=3dpw"], "expected finite values, found 1 NaN"),
    "adapt before ingest and pretrain": (None, None, ["--pipeline=adapt", "--params", "target=ski"], "kedro run --pipeline=pretrain --params target=ski"),
    "missing 3DHP test folder": ("mpi_inf_3dhp/mpi_inf_3dhp_test_set/TS2", shutil.rmtree, ["--pipeline=ingest", "--params", "target=3dhp"], "TS2"),
}


@pytest.mark.parametrize("case", list(CASES))
def test_bad_input_stops_the_run_naming_it_and_writes_nothing(standin_project, case):
    p = standin_project
    pattern, damage, args, expected = CASES[case]
    raw = p.path / "data" / "01_raw"
    backup = p.path.parent / f"raw-backup-{p.path.name}"
    if pattern is not None:
        shutil.rmtree(backup, ignore_errors=True)
        shutil.copytree(raw, backup)
        target = _first(p, f"data/01_raw/{pattern}")
        damage(target)
    before = _snapshot(p)
    try:
        out = p.run(*args, check=False)
    finally:
        if pattern is not None:
            shutil.rmtree(raw)
            shutil.move(backup, raw)
    assert out.returncode != 0, f"{case}: the run did not fail"
    assert expected in out.text, f"{case}: {expected!r} not in the error:\n{out.text[-2000:]}"
    if pattern is not None:
        assert target.name in out.text, f"{case}: the error does not name {target.name}"
    assert _snapshot(p) == before, f"{case}: the failed run wrote or changed files under data/"
