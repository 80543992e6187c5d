"""Data-parallel runs with ``torch.distributed``: one code path for 1 or N processes.

``torchrun --nproc_per_node=N ...`` starts N processes and sets ``RANK``,
``WORLD_SIZE``, ``LOCAL_RANK``, ``MASTER_ADDR`` and ``MASTER_PORT`` in each; a plain
``python``/``kedro`` run sets none of them and is a world of one. :func:`init` joins
the process group those variables describe (gloo on CPU, NCCL on CUDA, one GPU per
local rank). With one process every helper here is a no-op that returns its input
untouched, so a 1-process run computes exactly what it computed before this module.

What the training loops do with it (``core.training``, ``core.adapt``, ``core.loop``):

- the global batch stays ``batch_size``; each rank takes ``batch_size / world``
  (:func:`local_batch`) and draws its own windows and noise from seeds derived from
  ``(seed, rank)`` (:func:`rank_seed`); the networks start identical on every rank;
- gradients are averaged across ranks before every optimiser step, records (losses in
  the history) are averaged after every epoch (:func:`average_record`), so every rank
  logs the same numbers;
- only rank 0 writes (:func:`is_main`): checkpoints, artifacts, MLflow.
"""

from __future__ import annotations

import atexit
import logging
import os
from dataclasses import dataclass

import numpy as np
import torch
import torch.distributed as dist

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class World:
    """This process's place among the run's processes."""

    rank: int = 0
    size: int = 1
    local_rank: int = 0

    @property
    def main(self) -> bool:
        return self.rank == 0


def env_world(environ: os._Environ | dict | None = None) -> World:
    """The world torchrun describes in the environment (``RANK``, ``WORLD_SIZE``,
    ``LOCAL_RANK``); a world of one when they are absent. Needs no process group, so
    hooks can ask before any training node has joined one."""
    env = os.environ if environ is None else environ
    size = int(env.get("WORLD_SIZE", 1))
    rank = int(env.get("RANK", 0))
    if size < 1 or not 0 <= rank < size:
        raise ValueError(f"RANK/WORLD_SIZE: expected 0 <= RANK < WORLD_SIZE, got RANK={rank}, WORLD_SIZE={size}")
    return World(rank, size, int(env.get("LOCAL_RANK", rank)))


def world() -> World:
    """The process group's world once joined, else the environment's."""
    if dist.is_available() and dist.is_initialized():
        return World(dist.get_rank(), dist.get_world_size(), env_world().local_rank)
    return env_world()


def is_main() -> bool:
    """Whether this process writes (rank 0; always true in a 1-process run)."""
    return world().main


def init(device: torch.device) -> torch.device:
    """Join the process group the environment describes (once; later calls return at
    once) and return the device this rank computes on: ``cuda:LOCAL_RANK`` for a CUDA
    device in a world of several, else ``device`` unchanged. gloo on CPU, NCCL on CUDA."""
    w = env_world()
    if w.size == 1:
        return device
    if device.type == "cuda":
        device = torch.device("cuda", w.local_rank)
        torch.cuda.set_device(device)
    if not dist.is_initialized():
        backend = "nccl" if device.type == "cuda" else "gloo"
        dist.init_process_group(backend, rank=w.rank, world_size=w.size)
        atexit.register(_leave)
        log.info("data-parallel: rank %d of %d processes (%s, %s)", w.rank, w.size, backend, device)
    return device


def _leave() -> None:
    if dist.is_initialized():
        dist.destroy_process_group()


def _active() -> bool:
    return dist.is_available() and dist.is_initialized() and dist.get_world_size() > 1


def _comm_device() -> torch.device:
    """Where tensors of collectives live: NCCL reduces CUDA tensors only."""
    return torch.device("cuda", torch.cuda.current_device()) if dist.get_backend() == "nccl" else torch.device("cpu")


def rank_seed(seed: int, rank: int) -> int:
    """The seed of rank ``rank``'s random streams: ``seed`` itself on rank 0 (a
    1-process run draws what it always drew), an independent child of ``seed`` on the
    others (numpy's ``SeedSequence`` spawn key, so ranks never share a stream)."""
    if rank == 0:
        return seed
    words = np.random.SeedSequence(seed, spawn_key=(rank,)).generate_state(2, np.uint32)
    return int(words[0]) << 31 | int(words[1]) >> 1  # 62 bits: fits torch's manual_seed


def local_batch(batch_size: int, world_size: int, key: str) -> int:
    """Each rank's share of a global batch of ``batch_size`` (``key`` names it in the error)."""
    if batch_size % world_size:
        raise ValueError(f"{key}: expected a multiple of the {world_size} processes (the global batch is split evenly), got {batch_size}")
    return batch_size // world_size


def average_gradients(params) -> None:
    """Replace every ``p.grad`` of ``params`` by its mean over the ranks (one all-reduce
    of all of them flattened). Every rank must pass the same parameters with gradients."""
    if not _active():
        return
    grads = [p.grad for p in params if p.grad is not None]
    if not grads:
        return
    flat = torch.cat([g.reshape(-1) for g in grads])
    dist.all_reduce(flat)
    flat /= dist.get_world_size()
    offset = 0
    for g in grads:
        g.copy_(flat[offset : offset + g.numel()].view_as(g))
        offset += g.numel()


def average_buffers(module: torch.nn.Module) -> None:
    """Average the floating-point buffers (BatchNorm running statistics) over the ranks."""
    if not _active():
        return
    for b in module.buffers():
        if b.is_floating_point():
            dist.all_reduce(b)
            b /= dist.get_world_size()


def broadcast_state(module: torch.nn.Module, src: int = 0) -> None:
    """Copy rank ``src``'s parameters and buffers to every rank."""
    if not _active():
        return
    with torch.no_grad():
        for t in [*module.parameters(), *module.buffers()]:
            dist.broadcast(t.data, src)


def average_record(record: dict, skip: tuple[str, ...] = ("epoch",)) -> dict:
    """``record`` with every float value averaged over the ranks (keys in ``skip`` and
    non-float values as they are). Every rank must hold the same keys."""
    if not _active():
        return record
    keys = sorted(k for k, v in record.items() if k not in skip and isinstance(v, float))
    values = torch.tensor([record[k] for k in keys], dtype=torch.float64, device=_comm_device())
    dist.all_reduce(values)
    values /= dist.get_world_size()
    return {**record, **{k: float(v) for k, v in zip(keys, values.tolist())}}


def gather_objects(obj) -> list | None:
    """Every rank's ``obj`` on rank 0 (a list in rank order), None on the others."""
    if not _active():
        return [obj]
    out = [None] * dist.get_world_size() if dist.get_rank() == 0 else None
    dist.gather_object(obj, out, dst=0)
    return out


def barrier() -> None:
    if _active():
        dist.barrier()


def wrap(model: torch.nn.Module, device: torch.device) -> torch.nn.Module:
    """``model`` in ``DistributedDataParallel`` in a world of several (its gradients are
    averaged during ``backward``, rank 0's parameters and BatchNorm buffers are broadcast
    at construction and before each forward); ``model`` itself in a world of one."""
    if not _active():
        return model
    from torch.nn.parallel import DistributedDataParallel

    ids = [device.index] if device.type == "cuda" else None
    return DistributedDataParallel(model, device_ids=ids, output_device=device.index if ids else None)


def run_local(fn, world_size: int, *args) -> list:
    """Run ``fn(*args)`` in ``world_size`` fresh processes on this machine, each with the
    environment torchrun would give it (rank, world size, a free local port); return
    their results in rank order. What tests and benchmarks use in place of ``torchrun``;
    ``fn`` must be importable (a module-level function) and its result picklable."""
    import tempfile

    import torch.multiprocessing as mp

    with tempfile.TemporaryDirectory(prefix="adaptpose-ranks-") as folder:
        mp.spawn(_run_rank, args=(world_size, free_port(), folder, fn, args), nprocs=world_size, join=True)
        return [torch.load(os.path.join(folder, f"{r}.pt"), weights_only=False) for r in range(world_size)]


def _run_rank(rank: int, world_size: int, port: int, folder: str, fn, args: tuple) -> None:
    os.environ.update(
        RANK=str(rank), LOCAL_RANK=str(rank), WORLD_SIZE=str(world_size), LOCAL_WORLD_SIZE=str(world_size),
        MASTER_ADDR="127.0.0.1", MASTER_PORT=str(port),
    )
    try:
        result = fn(*args)
    finally:
        _leave()
    torch.save(result, os.path.join(folder, f"{rank}.pt"))


def free_port() -> int:
    """A TCP port free on the loopback interface now (for a local rendezvous or server)."""
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]
