import logging
import pickle

import numpy as np
import pytest
import torch

from adaptpose_pipeline.core import checkpoints
from adaptpose_pipeline.core.checkpoints import EpochCheckpoints, fingerprint

CPU = torch.device("cpu")
SETTINGS = {"stage": "pretrain", "params": {"lr": 1e-3, "epochs": 3, "layers": [2, 2]}, "seed": 0}


def _arrays():
    return {
        "train": {"x": np.arange(12, dtype=np.float32).reshape(3, 4), "valid": np.ones(3, bool)},
        "validation": {"x": np.zeros((2, 4), np.float32)},
    }


def _state(epoch=2):
    return {"epoch": epoch, "lifter": {"w": torch.arange(4.0)}, "history": [{"epoch": 0, "loss": 1.5}]}


# ----------------------------------------------------------------------------- fingerprint


def test_fingerprint_is_a_stable_sha256_of_settings_arrays_and_device():
    a = fingerprint(SETTINGS, _arrays(), CPU)
    assert len(a) == 64 and int(a, 16) >= 0
    assert fingerprint(SETTINGS, _arrays(), CPU) == a
    # Order of keys and memory layout carry no meaning.
    reordered = {"params": {"layers": [2, 2], "epochs": 3, "lr": 1e-3}, "seed": 0, "stage": "pretrain"}
    arrays = _arrays()
    arrays = {"validation": arrays["validation"], "train": {"valid": arrays["train"]["valid"], "x": arrays["train"]["x"]}}
    assert fingerprint(reordered, arrays, CPU) == a
    fortran = _arrays()
    fortran["train"]["x"] = np.asfortranarray(fortran["train"]["x"])
    assert fingerprint(SETTINGS, fortran, CPU) == a
    # Only the device type counts: the random streams differ between types, not indices.
    assert fingerprint(SETTINGS, _arrays(), torch.device("cuda", 0)) == fingerprint(SETTINGS, _arrays(), torch.device("cuda", 1))


def _changed(what):
    settings, arrays, device = {**SETTINGS, "params": dict(SETTINGS["params"])}, _arrays(), CPU
    if what == "param":
        settings["params"]["lr"] = 2e-3
    elif what == "nested_param":
        settings["params"]["layers"] = [2, 3]
    elif what == "seed":
        settings["seed"] = 1
    elif what == "stage":
        settings["stage"] = "adapt"
    elif what == "extra_setting":
        settings["target"] = "ski"
    elif what == "array_value":
        arrays["train"]["x"][1, 2] += 1e-6
    elif what == "array_dtype":
        arrays["train"]["x"] = arrays["train"]["x"].astype(np.float64)
    elif what == "array_shape":
        arrays["train"]["x"] = arrays["train"]["x"].reshape(4, 3)
    elif what == "array_key":
        arrays["train"]["y"] = arrays["train"].pop("x")
    elif what == "array_group":
        arrays["test"] = arrays.pop("validation")
    elif what == "extra_array":
        arrays["validation"]["valid"] = np.ones(2, bool)
    elif what == "device":
        device = torch.device("cuda")
    return settings, arrays, device


@pytest.mark.parametrize(
    "what",
    ["param", "nested_param", "seed", "stage", "extra_setting", "array_value", "array_dtype", "array_shape",
     "array_key", "array_group", "extra_array", "device"],
)
def test_fingerprint_changes_with_any_input(what):
    assert fingerprint(*_changed(what)) != fingerprint(SETTINGS, _arrays(), CPU)


def test_fingerprint_changes_with_torch_version_and_checkpoint_format(monkeypatch):
    base = fingerprint(SETTINGS, _arrays(), CPU)
    monkeypatch.setattr(checkpoints, "CHECKPOINT_FORMAT", checkpoints.CHECKPOINT_FORMAT + 1)
    bumped = fingerprint(SETTINGS, _arrays(), CPU)
    monkeypatch.undo()
    monkeypatch.setattr(torch, "__version__", "0.0.0-other")
    other_torch = fingerprint(SETTINGS, _arrays(), CPU)
    assert len({base, bumped, other_torch}) == 3


# ----------------------------------------------------------------------------- EpochCheckpoints


def _ckpt(tmp_path, resume=True, stamp="a" * 64, stage="pretrain", folder="ckpt"):
    return EpochCheckpoints({"dir": str(tmp_path / folder), "resume": resume}, "ski", stage, stamp)


def test_save_then_load_gives_the_state_back(tmp_path):
    ck = _ckpt(tmp_path)
    assert ck.path == tmp_path / "ckpt" / "ski" / "pretrain.pt"
    ck.save(_state(epoch=2))
    ck.save(_state(epoch=3))  # the newest epoch replaces the older one
    got = _ckpt(tmp_path).load()
    assert got["epoch"] == 3
    assert torch.equal(got["lifter"]["w"], torch.arange(4.0))
    assert got["history"] == [{"epoch": 0, "loss": 1.5}]
    # Written atomically: no temporary file is left beside it.
    assert [p.name for p in ck.path.parent.iterdir()] == ["pretrain.pt"]


def test_nested_stage_names_make_folders(tmp_path):
    ck = _ckpt(tmp_path, stage="ablation/table5/no_bone/adapt")
    ck.save(_state())
    assert ck.path == tmp_path / "ckpt" / "ski" / "ablation" / "table5" / "no_bone" / "adapt.pt"
    assert ck.load()["epoch"] == 2


def test_no_checkpoint_yet_starts_afresh_with_a_warning(tmp_path, caplog):
    with caplog.at_level(logging.WARNING, logger=checkpoints.__name__):
        assert _ckpt(tmp_path).load() is None
    assert "no checkpoint at" in caplog.text and "pretrain.pt" in caplog.text


def test_resume_off_ignores_an_existing_checkpoint_and_still_saves(tmp_path):
    _ckpt(tmp_path, stamp="b" * 64).save(_state(epoch=5))
    ck = _ckpt(tmp_path, resume=False)
    assert ck.load() is None  # even one of other settings: it is not read at all
    ck.save(_state(epoch=1))
    assert _ckpt(tmp_path).load()["epoch"] == 1


def test_dir_null_turns_checkpoints_off(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    ck = EpochCheckpoints({"dir": None, "resume": False}, "ski", "pretrain", "a" * 64)
    assert ck.path is None and ck.load() is None
    ck.save(_state())
    assert list(tmp_path.iterdir()) == []
    with pytest.raises(ValueError, match=r"checkpoints\.resume: true needs checkpoints\.dir \(it is null\)"):
        EpochCheckpoints({"dir": None, "resume": True}, "ski", "pretrain", "a" * 64)
    # A missing key reads as off, not as an error.
    assert EpochCheckpoints({}, "ski", "pretrain", "a" * 64).path is None


def test_checkpoint_of_other_settings_is_refused_naming_the_file(tmp_path):
    old = fingerprint(SETTINGS, _arrays(), CPU)
    new = fingerprint(*_changed("seed"))
    _ckpt(tmp_path, stamp=old).save(_state())
    ck = _ckpt(tmp_path, stamp=new)
    with pytest.raises(ValueError) as err:
        ck.load()
    msg = str(err.value)
    assert str(ck.path) in msg
    assert "other parameters, seed, input data, device or torch version" in msg
    assert old[:12] in msg and new[:12] in msg
    assert "checkpoints.resume=false" in msg


@pytest.mark.filterwarnings("ignore:Detected pickle protocol")
@pytest.mark.parametrize("case", ["garbage", "empty", "truncated", "plain_pickle", "not_a_dict", "no_state"])
def test_unreadable_checkpoint_is_an_error_naming_the_file(tmp_path, case):
    ck = _ckpt(tmp_path)
    ck.save(_state())
    if case == "garbage":
        ck.path.write_bytes(b"this is not a torch file at all" * 10)
    elif case == "empty":
        ck.path.write_bytes(b"")
    elif case == "truncated":
        data = ck.path.read_bytes()
        ck.path.write_bytes(data[: len(data) // 2])
    elif case == "plain_pickle":
        # An arbitrary pickled object is never unpickled (torch.load weights_only).
        ck.path.write_bytes(pickle.dumps({"fingerprint": "a" * 64, "state": logging.getLogger("x")}))
    elif case == "not_a_dict":
        torch.save([1, 2, 3], ck.path)
    elif case == "no_state":
        torch.save({"fingerprint": "a" * 64, "state": None}, ck.path)
    with pytest.raises(ValueError, match="pretrain.pt") as err:
        ck.load()
    if case == "not_a_dict":
        assert "written by a run with other parameters" in str(err.value)
    elif case == "no_state":
        assert "expected an epoch checkpoint's state with an 'epoch'" in str(err.value)
    else:
        assert "cannot be read as an epoch checkpoint" in str(err.value) and "delete it" in str(err.value)
