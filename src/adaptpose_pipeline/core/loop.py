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


class EpochLoop(Protocol):
    history: list[dict]

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
    return its history. After each epoch: the record joins the history, then
    ``on_epoch(epoch, record)``, then ``on_checkpoint(loop.state_dict(epoch))``."""
    start = 0
    if resume is not None:
        loop.load_state_dict(copy.deepcopy(resume))  # training updates loaded tensors in place
        start = resume["epoch"] + 1
    bar = tqdm(range(start, epochs), desc=desc, unit="epoch", disable=not progress, initial=start, total=epochs)
    for epoch in bar:
        record = loop.epoch(epoch)
        loop.history.append(record)
        bar.set_postfix(loop.postfix(record))
        if on_epoch is not None:
            on_epoch(epoch, record)
        if on_checkpoint is not None:
            on_checkpoint(loop.state_dict(epoch))
    return loop.history


def cpu_state(model: torch.nn.Module) -> dict[str, torch.Tensor]:
    """A detached CPU copy of ``model``'s state dict."""
    return {k: v.detach().cpu().clone() for k, v in model.state_dict().items()}
