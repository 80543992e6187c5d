"""A BVH reader and forward kinematics: the tests' check that the files ``core.bvh``
writes hold the motion they were fitted to (the pipelines only write BVH)."""

from __future__ import annotations

import numpy as np
from scipy.spatial.transform import Rotation

from adaptpose_pipeline.core.bvh import Bvh

_CHANNELS = {f"{a}{kind}" for a in "XYZ" for kind in ("position", "rotation")}


class _Tokens:
    def __init__(self, text: str, where: str):
        self.items, self.i, self.where = text.split(), 0, where

    def next(self, expected: str | None = None) -> str:
        if self.i >= len(self.items):
            raise ValueError(f"{self.where}: the file ends early" + (f" (expected {expected!r})" if expected else ""))
        tok = self.items[self.i]
        self.i += 1
        if expected is not None and tok != expected:
            raise ValueError(f"{self.where}: expected {expected!r}, found {tok!r} (token {self.i})")
        return tok

    def number(self, what: str) -> float:
        tok = self.next()
        try:
            return float(tok)
        except ValueError:
            raise ValueError(f"{self.where}: expected a number for {what}, found {tok!r} (token {self.i})") from None


def parse_bvh(text: str, where: str = "BVH") -> Bvh:
    """Read a BVH file's text (any channel layout); ``where`` names it in errors."""
    tok = _Tokens(text, where)
    names, parents, offsets, channels, end_sites = [], [], [], [], {}

    def joint(parent: int) -> None:
        index = len(names)
        names.append(tok.next())
        parents.append(parent)
        tok.next("{")
        tok.next("OFFSET")
        offsets.append([tok.number(f"{names[index]} OFFSET") for _ in range(3)])
        tok.next("CHANNELS")
        n = int(tok.number(f"{names[index]} CHANNELS"))
        chans = tuple(tok.next() for _ in range(n))
        unknown = [c for c in chans if c not in _CHANNELS]
        if unknown:
            raise ValueError(f"{where}: joint {names[index]!r} has unknown channels {unknown}")
        channels.append(chans)
        while True:
            key = tok.next()
            if key == "}":
                return
            if key == "JOINT":
                joint(index)
            elif key == "End":
                tok.next("Site")
                tok.next("{")
                tok.next("OFFSET")
                end_sites[index] = np.array([tok.number("End Site OFFSET") for _ in range(3)])
                tok.next("}")
            else:
                raise ValueError(f"{where}: expected JOINT, End Site or '}}' in {names[index]!r}, found {key!r}")

    tok.next("HIERARCHY")
    tok.next("ROOT")
    joint(-1)
    tok.next("MOTION")
    tok.next("Frames:")
    frames = int(tok.number("Frames"))
    tok.next("Frame")
    tok.next("Time:")
    frame_time = tok.number("Frame Time")
    width = sum(len(c) for c in channels)
    values = tok.items[tok.i :]
    if len(values) != frames * width:
        raise ValueError(f"{where}: expected {frames} frames x {width} channels = {frames * width} values, found {len(values)}")
    try:
        motion = np.array(values, dtype=np.float64).reshape(frames, width)
    except ValueError as exc:
        raise ValueError(f"{where}: MOTION holds a value that is not a number: {exc}") from None
    return Bvh(tuple(names), tuple(parents), np.array(offsets, dtype=np.float64).reshape(-1, 3), tuple(channels), end_sites, frame_time, motion)


def forward_kinematics(bvh: Bvh) -> np.ndarray:
    """Joint positions ``(F, J, 3)`` in file units and file order. A joint's local
    translation is its OFFSET plus its position channels; its local rotation the
    product of its rotation channels in the order listed."""
    F, J = bvh.num_frames, len(bvh.names)
    glob = np.empty((F, J, 3, 3))
    pos = np.empty((F, J, 3))
    start = 0
    for j, names in enumerate(bvh.channels):
        values = bvh.motion[:, start : start + len(names)]
        start += len(names)
        shift = np.broadcast_to(bvh.offsets[j], (F, 3)).copy()
        rot = np.broadcast_to(np.eye(3), (F, 3, 3))
        for name, v in zip(names, values.T):
            if name.endswith("position"):
                shift[:, "XYZ".index(name[0])] += v
            else:
                rot = rot @ Rotation.from_euler(name[0], v[:, None], degrees=True).as_matrix()
        p = bvh.parents[j]
        if p < 0:
            glob[:, j], pos[:, j] = rot, shift
        else:
            glob[:, j] = glob[:, p] @ rot
            pos[:, j] = pos[:, p] + np.einsum("fij,fj->fi", glob[:, p], shift)
    return pos
