"""What every benchmark shares: machine facts, throw-away project copies that run
``kedro``, the parameters a benchmark reads, and the result files.

Results: one JSON per benchmark (``<out>/<name>.json``) holding the machine, git
commit, exact command line, date, settings, raw results, display tables and goals;
after each save ``<out>/summary.md`` is rebuilt from every JSON in ``<out>``.
"""

from __future__ import annotations

import argparse
import contextlib
import datetime as dt
import json
import math
import os
import platform
import shlex
import shutil
import subprocess
import sys
import tempfile
import threading
import time
import warnings
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
RESULTS = ROOT / "benchmarks" / "results"
QUICK_RESULTS = RESULTS / "tmp"  # git-ignored: smoke runs never overwrite real figures
KEDRO = Path(sys.executable).parent / "kedro"
SUMMARY = "summary.md"


# --------------------------------------------------------------------------- machine


def cpu_model(cpuinfo: Path = Path("/proc/cpuinfo")) -> str:
    """The first ``model name`` in ``/proc/cpuinfo`` (the platform's processor string elsewhere)."""
    try:
        for line in cpuinfo.read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def memory_gb(meminfo: Path = Path("/proc/meminfo")) -> float | None:
    try:
        for line in meminfo.read_text().splitlines():
            if line.startswith("MemTotal:"):
                return round(int(line.split()[1]) / 2**20, 1)
    except OSError:
        pass
    return None


def machine_info(devices: Sequence[str] = ("cpu",)) -> dict:
    """Where the numbers came from: CPU, cores (all and usable), memory, torch, GPU."""
    import torch

    cuda = torch.cuda.is_available()
    return {
        "cpu_model": cpu_model(),
        "cpu_count": os.cpu_count(),
        "cpus_usable": len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count(),
        "memory_gb": memory_gb(),
        "python": platform.python_version(),
        "platform": platform.platform(),
        "torch": torch.__version__,
        "torch_threads": torch.get_num_threads(),
        "omp_num_threads": os.environ.get("OMP_NUM_THREADS"),
        "devices": list(devices),
        "cuda_available": cuda,
        "gpu": torch.cuda.get_device_name(0) if cuda else None,
        "cuda_version": torch.version.cuda,
    }


def git_info() -> dict:
    from adaptpose_pipeline.manifest import git_state

    return git_state(ROOT)


# --------------------------------------------------------------------------- command line


def parser(description: str) -> argparse.ArgumentParser:
    """An argument parser with the flags every benchmark takes (``--quick``, ``--out``)."""
    p = argparse.ArgumentParser(description=description, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--quick", action="store_true", help="tiny sizes (a smoke run, < 60 s); results go to benchmarks/results/tmp/")
    p.add_argument("--out", type=Path, default=None, help="results folder (default benchmarks/results, or benchmarks/results/tmp with --quick)")
    return p


def add_keep(p: argparse.ArgumentParser) -> None:
    p.add_argument("--keep", type=Path, default=None, help="keep the project copy (and its logs) in this folder")


def out_dir(args: argparse.Namespace) -> Path:
    return args.out if args.out is not None else (QUICK_RESULTS if args.quick else RESULTS)


def kedro_device() -> str:
    """The device ``kedro run`` picks with ``device: auto``."""
    import torch

    return "cuda" if torch.cuda.is_available() else "cpu"


def cuda_devices(choice: str) -> list[str] | None:
    """``cpu`` -> [cpu]; ``cuda`` -> [cuda], or None (print why) when CUDA is absent;
    ``all`` -> cpu, plus cuda when present."""
    import torch

    cuda = torch.cuda.is_available()
    if choice == "cpu":
        return ["cpu"]
    if choice == "cuda":
        if not cuda:
            print("skipped: --device cuda was asked for, but CUDA is not available on this machine (nothing written)")
            return None
        return ["cuda"]
    return ["cpu", "cuda"] if cuda else ["cpu"]


def load_parameters(env: str | None = None) -> dict:
    """The project's parameters as ``kedro run [--env env]`` sees them (no runtime params)."""
    from kedro.config import OmegaConfigLoader

    with warnings.catch_warnings():  # omegaconf's resolver deprecation notice, not ours
        warnings.simplefilter("ignore", UserWarning)
        loader = OmegaConfigLoader(str(ROOT / "conf"), base_env="base", default_run_env=env or "local")
        return loader["parameters"]


def join_params(*parts: str | dict | None) -> str:
    """``--params`` text from ``k=v`` strings and/or ``{key: value}`` mappings (later wins)."""
    items: dict[str, str] = {}
    for part in parts:
        if not part:
            continue
        pairs = part.items() if isinstance(part, dict) else (kv.split("=", 1) for kv in part.split(",") if kv.strip())
        for k, v in pairs:
            items[str(k).strip()] = str(v).strip()
    return ",".join(f"{k}={v}" for k, v in items.items())


# --------------------------------------------------------------------------- kedro in a copy


@dataclass
class RunRecord:
    command: str
    seconds: float
    max_rss_mb: float
    gpu_peak_mb: float | None = None

    def as_dict(self) -> dict:
        return {k: v for k, v in self.__dict__.items() if v is not None}


class GpuMemorySampler:
    """Peak GPU memory in use (all processes, ``nvidia-smi``), sampled every ``period`` s,
    minus what was in use when sampling started. ``peak_mb`` is None without nvidia-smi."""

    def __init__(self, period: float = 0.2):
        self.period = period
        self.peak_mb: float | None = None
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._smi = shutil.which("nvidia-smi")

    def _used(self) -> float | None:
        try:
            out = subprocess.run(
                [self._smi, "--query-gpu=memory.used", "--format=csv,noheader,nounits"],
                capture_output=True, text=True, timeout=10, check=True,
            ).stdout
            return float(sum(float(x) for x in out.split()))
        except (OSError, subprocess.SubprocessError, ValueError):
            return None

    def _loop(self, start: float) -> None:
        while not self._stop.wait(self.period):
            used = self._used()
            if used is not None:
                self.peak_mb = max(self.peak_mb or 0.0, used - start)

    def __enter__(self) -> GpuMemorySampler:
        if self._smi:
            start = self._used()
            if start is not None:
                self.peak_mb = 0.0
                self._thread = threading.Thread(target=self._loop, args=(start,), daemon=True)
                self._thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join()


class TempProject:
    """A throw-away copy of the project (configuration only; the package is installed),
    with its own MLflow store, in which ``kedro run`` commands are timed.

    Each command's peak resident memory comes from ``wait4``'s rusage (``ru_maxrss``:
    the largest process of its tree; commands run one after another, so the peak of
    a sequence is the largest of theirs). With ``gpu=True`` GPU memory is sampled too.
    """

    def __init__(self, keep: Path | None = None, gpu: bool = False):
        from adaptpose_pipeline.repro import project_copy

        self.keep = keep
        self.gpu = gpu
        self.work = keep if keep is not None else Path(tempfile.mkdtemp(prefix="adaptpose-bench-"))
        self.work.mkdir(parents=True, exist_ok=True)
        self.path = project_copy(ROOT, self.work / "project")
        self.logs = self.work / "logs"
        self.logs.mkdir()
        self.records: list[RunRecord] = []

    def __enter__(self) -> TempProject:
        return self

    def __exit__(self, *exc) -> None:
        if self.keep is None:
            shutil.rmtree(self.work, ignore_errors=True)

    def env(self) -> dict:
        return dict(
            os.environ,
            DO_NOT_TRACK="true",
            KEDRO_DISABLE_TELEMETRY="true",
            COLUMNS="200",
            MLFLOW_TRACKING_URI=f"sqlite:///{self.path / 'mlruns.db'}",
        )

    def kedro(self, *args: str, params: str = "") -> RunRecord:
        """Run ``kedro run *args [--params params]`` here; raise with the log's tail on failure."""
        argv = [str(KEDRO), "run", *args] + (["--params", params] if params else [])
        log = self.logs / f"{len(self.records):03d}.log"
        print(f"  $ {shlex.join(['kedro', *argv[1:]])}", flush=True)
        with open(log, "w") as fh, GpuMemorySampler() if self.gpu else contextlib.nullcontext() as gpu:
            start = time.perf_counter()
            proc = subprocess.Popen(argv, cwd=self.path, env=self.env(), stdout=fh, stderr=subprocess.STDOUT)
            _, status, usage = os.wait4(proc.pid, 0)
            seconds = time.perf_counter() - start
            proc.returncode = os.waitstatus_to_exitcode(status)
        if proc.returncode != 0:
            tail = log.read_text()[-4000:]
            raise RuntimeError(f"`{shlex.join(argv[1:])}` failed (exit {proc.returncode}) in {self.path}:\n{tail}")
        record = RunRecord(shlex.join(["kedro", *argv[1:]]), round(seconds, 2), round(usage.ru_maxrss / 1024, 1),
                           None if gpu is None else gpu.peak_mb)
        print(f"    {record.seconds:.1f} s, peak RSS {record.max_rss_mb:.0f} MB", flush=True)
        self.records.append(record)
        return record

    def newest(self, relpath: str) -> tuple[str, Path]:
        """The newest version of a versioned dataset file: ``(version, path)``."""
        from adaptpose_pipeline.manifest import newest_version

        path = newest_version(self.path / relpath)
        if path is None:
            raise FileNotFoundError(f"{self.path / relpath}: no versions saved")
        return path.parent.name, path

    def newest_json(self, relpath: str) -> tuple[str, dict]:
        version, path = self.newest(relpath)
        return version, json.loads(path.read_text())


# --------------------------------------------------------------------------- numbers


def mean_std(values: Sequence[float]) -> tuple[float, float]:
    """Mean and sample standard deviation (0 for a single value)."""
    n = len(values)
    if n == 0:
        return math.nan, math.nan
    m = sum(values) / n
    return m, (math.sqrt(sum((v - m) ** 2 for v in values) / (n - 1)) if n > 1 else 0.0)


def pm(values: Sequence[float], digits: int = 1) -> str:
    """``mean ± std`` text (just the value when there is one)."""
    m, s = mean_std(values)
    return f"{m:.{digits}f}" if len(values) == 1 else f"{m:.{digits}f} ± {s:.{digits}f}"


def linear_fit(x: Sequence[float], y: Sequence[float]) -> dict:
    """Least squares ``y = intercept + slope x`` and its R^2."""
    n = len(x)
    mx, my = sum(x) / n, sum(y) / n
    sxx = sum((a - mx) ** 2 for a in x)
    slope = sum((a - mx) * (b - my) for a, b in zip(x, y)) / sxx
    intercept = my - slope * mx
    ss_tot = sum((b - my) ** 2 for b in y)
    ss_res = sum((b - intercept - slope * a) ** 2 for a, b in zip(x, y))
    return {"slope": slope, "intercept": intercept, "r2": 1.0 - ss_res / ss_tot if ss_tot > 0 else 1.0}


# --------------------------------------------------------------------------- results


def record(
    name: str,
    title: str,
    *,
    quick: bool,
    devices: Sequence[str],
    settings: dict,
    results: dict,
    tables: Sequence[dict],
    goals: Sequence[dict] = (),
    notes: Sequence[str] = (),
) -> dict:
    """One benchmark's result file. ``tables``: ``{"title", "columns", "rows"}``;
    ``goals``: ``{"goal", "met" (bool or None: not evaluated), "detail"}``."""
    return {
        "benchmark": name,
        "title": title,
        "date": dt.datetime.now(dt.timezone.utc).isoformat(timespec="seconds"),
        "command": shlex.join(getattr(sys, "orig_argv", [sys.executable, *sys.argv])),
        "cwd": os.getcwd(),
        "git": git_info(),
        "machine": machine_info(devices),
        "quick": quick,
        "settings": settings,
        "results": results,
        "tables": list(tables),
        "goals": list(goals),
        "notes": list(notes),
    }


def _cell(value) -> str:
    if isinstance(value, bool) or value is None:
        return {True: "yes", False: "no", None: "n/a"}[value]
    if isinstance(value, float):
        return f"{value:.4g}" if abs(value) < 1e4 else f"{value:,.0f}"
    return str(value).replace("|", "\\|")


def render(rec: dict) -> str:
    """The markdown section of one result file."""
    m, git = rec["machine"], rec.get("git") or {}
    commit = (git.get("commit") or "unknown")[:10] + (" (dirty)" if git.get("dirty") else "")
    gpu = f", GPU {m['gpu']}" if m.get("gpu") else ""
    lines = [
        f"## {rec['title']}" + (" (quick smoke run)" if rec.get("quick") else ""),
        "",
        f"`{rec['command']}`, {rec['date']}, commit {commit}",
        "",
        f"Machine: {m['cpu_model']}, {m['cpus_usable']} of {m['cpu_count']} CPUs usable, "
        f"{m.get('memory_gb')} GB, torch {m['torch']} ({m['torch_threads']} threads){gpu}; "
        f"devices measured: {', '.join(m['devices'])}",
        "",
    ]
    for table in rec["tables"]:
        if table.get("title"):
            lines += [f"**{table['title']}**", ""]
        lines.append("| " + " | ".join(_cell(c) for c in table["columns"]) + " |")
        lines.append("|" + "---|" * len(table["columns"]))
        lines += ["| " + " | ".join(_cell(v) for v in row) + " |" for row in table["rows"]]
        lines.append("")
    if rec["goals"]:
        lines += ["| goal | met | detail |", "|---|---|---|"]
        lines += [f"| {g['goal']} | {_cell(g['met'])} | {_cell(g.get('detail', ''))} |" for g in rec["goals"]]
        lines.append("")
    lines += [f"- {n}" for n in rec["notes"]]
    return "\n".join(lines).rstrip() + "\n"


def write_summary(folder: Path) -> Path:
    """Rebuild ``folder/summary.md`` from every result JSON in ``folder``."""
    files = sorted(folder.glob("*.json"))
    parts = [
        "# Benchmark results",
        "",
        f"Generated by `python -m benchmarks` from the {len(files)} result file(s) in this folder; "
        "every section names the command, commit and machine that produced it.",
        "",
    ]
    for path in files:
        parts.append(render(json.loads(path.read_text())))
    out = folder / SUMMARY
    out.write_text("\n".join(parts).rstrip() + "\n")
    return out


def save(rec: dict, folder: Path, name: str | None = None) -> Path:
    """Write ``folder/<name>.json`` (default: the benchmark's name), rebuild the summary,
    print this result's section."""
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / f"{name or rec['benchmark']}.json"
    path.write_text(json.dumps(rec, indent=1, default=str) + "\n")
    summary = write_summary(folder)
    print()
    print(render(rec))
    print(f"saved {path.relative_to(ROOT) if path.is_relative_to(ROOT) else path}; summary in {summary.name}")
    return path
