"""The epoch and checkpoint skeleton shared by pretraining and adaptation.

A training loop is an object with ``history`` (one record per finished epoch),
``epoch(e) -> record`` (one epoch's work), ``postfix(record)`` (what the progress bar
shows), ``state_dict(e)`` (everything a resume needs after epoch ``e``: weights,
optimisers, random states, history) and ``load_state_dict(state)``. :func:`run_epochs`
runs it from the first epoch, or from the one after a checkpoint, to the last; a resumed
run ends where an uninterrupted one ends.
"""

from __future__ import annotations

import copy
from collections.abc import Callable
from typing import Protocol

import torch
from tqdm.auto import tqdm

from adaptpose_pipeline.core import distributed


class EpochLoop(Protocol):
    history: list[dict]
    rank_keys: tuple[str, ...]  # state_dict entries that differ between ranks

    def epoch(self, epoch: int) -> dict: ...

    def postfix(self, record: dict) -> dict[str, str]: ...

    def state_dict(self, epoch: int) -> dict: ...

    def load_state_dict(self, state: dict) -> None: ...


def run_epochs(
    loop: EpochLoop,
    epochs: int,
    desc: str,
    progress: bool = True,
    resume: dict | None = None,
    on_epoch: Callable[[int, dict], None] | None = None,
    on_checkpoint: Callable[[dict], None] | None = None,
) -> list[dict]:
    """Run ``loop`` to ``epochs`` epochs (after ``resume["epoch"]`` when resuming) and
    return its history. After each epoch: the record (averaged over the ranks) joins the
    history, then ``on_epoch(epoch, record)`` on every rank, then
    ``on_checkpoint(state)`` on rank 0 (see the module docstring)."""
    start = 0
    if resume is not None:
        loop.load_state_dict(copy.deepcopy(own_state(resume)))  # training updates loaded tensors in place
        start = resume["epoch"] + 1
    bar = tqdm(range(start, epochs), desc=desc, unit="epoch", disable=not progress, initial=start, total=epochs)
    for epoch in bar:
        record = distributed.average_record(loop.epoch(epoch))
        loop.history.append(record)
        bar.set_postfix(loop.postfix(record))
        if on_epoch is not None:
            on_epoch(epoch, record)
        if on_checkpoint is not None:
            state = checkpoint_state(loop, epoch)
            if state is not None:
                on_checkpoint(state)
    return loop.history


def checkpoint_state(loop: EpochLoop, epoch: int) -> dict | None:
    """``loop.state_dict(epoch)``, with every rank's ``rank_keys`` entries under ``ranks``
    in a world of several; None on ranks other than 0 (a collective: every rank calls it)."""
    state = loop.state_dict(epoch)
    if distributed.world().size == 1:
        return state
    parts = distributed.gather_objects({k: state[k] for k in loop.rank_keys})
    return None if parts is None else {**state, "ranks": parts}


def own_state(state: dict) -> dict:
    """A checkpoint's state as this rank saved it: its own ``ranks`` entries over rank 0's."""
    w = distributed.world()
    parts = state.get("ranks")
    if parts is None and w.size == 1:
        return state
    if parts is None or len(parts) != w.size:
        found = 1 if parts is None else len(parts)
        raise ValueError(f"checkpoint of epoch {state.get('epoch')}: written by {found} process(es), this run has {w.size}")
    own = {k: v for k, v in state.items() if k != "ranks"}
    own.update(parts[w.rank])
    return own


def cpu_state(model: torch.nn.Module) -> dict[str, torch.Tensor]:
    """A detached CPU copy of ``model``'s state dict."""
    return {k: v.detach().cpu().clone() for k, v in model.state_dict().items()}
