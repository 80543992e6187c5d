"""Mutation score of the adaptation loop, its losses, the generator and the metrics.

Reads what ``mutmut run`` (``make mutate``; ``[tool.mutmut]`` in pyproject.toml says
which modules and which tests) left in ``mutants/`` and writes, per module, the mutants
killed, survived, timed out and not checked, and the score (killed / total). Every
survivor is listed with its diff and a one-line reason (an equivalent mutant, or why it
is not worth a test). Reasons are carried over from the previous result file for the
survivors whose name and diff are unchanged; a new survivor gets ``UNREVIEWED`` until
someone writes its reason into the file (or kills it with a test). A module that this
run did not check at all (``make mutate MUTANTS='adaptpose_pipeline.core.metrics*'``
checks one) keeps its figures and survivors from the previous result file, marked with
that file's date.

``python -m benchmarks.mutation [--out DIR]`` after ``mutmut run``.
"""

from __future__ import annotations

import json
import os
import tomllib
from collections import Counter
from importlib.metadata import version
from pathlib import Path

from benchmarks import common

NAME = "mutation"
GOAL = 0.8
UNREVIEWED = "UNREVIEWED"
TEST_GAP = "test gap"  # how a reason starts when a test should kill that survivor but none does yet
RUN_COMMAND = "OMP_NUM_THREADS=1 mutmut run --max-children 1"


def changed_lines(diff: str) -> list[str]:
    """The removed and added lines of a unified diff, without its file headers."""
    return [
        line.rstrip() for line in diff.splitlines()
        if line[:1] in "+-" and not line.startswith(("+++", "---"))
    ]


def module_rows(statuses: dict[str, Counter]) -> dict:
    """Per module: counts and score (killed / total)."""
    per_module = {}
    for module, counts in sorted(statuses.items()):
        total = sum(counts.values())
        killed = counts.get("killed", 0)
        entry = {
            "killed": killed,
            "survived": counts.get("survived", 0),
            "timeout": counts.get("timeout", 0),
            "not_checked": counts.get("not checked", 0),
            "other": total - killed - sum(counts.get(s, 0) for s in ("survived", "timeout", "not checked")),
            "total": total,
            "score": round(killed / total, 4) if total else None,
        }
        checked = total - entry["not_checked"]
        if entry["not_checked"]:  # an interrupted run: the score so far, over the mutants checked
            entry["score_of_checked"] = round(killed / checked, 4) if checked else None
        per_module[module] = entry
    return per_module


def table_row(module: str, entry: dict) -> list:
    score = f"{100 * entry['score']:.1f}%" if entry["score"] is not None else "n/a"
    if entry.get("score_of_checked") is not None:
        score += f" ({100 * entry['score_of_checked']:.1f}% of those checked)"
    counts = [entry[k] for k in ("killed", "survived", "timeout", "not_checked", "total")]
    return [module, *counts, score, entry.get("checked_on", "")[:10]]


def carry_reasons(survivors: list[dict], previous: list[dict]) -> list[dict]:
    """Give each survivor the reason recorded for the same name and diff last time."""
    known = {(s["name"], tuple(s["diff"])): s.get("reason", UNREVIEWED) for s in previous}
    return [dict(s, reason=known.get((s["name"], tuple(s["diff"])), UNREVIEWED)) for s in survivors]


def keep_unchecked_from_previous(per_module: dict, survivors: list[dict], previous: dict) -> tuple[dict, list[dict]]:
    """Modules with no mutant checked in this run: their entry and survivors from ``previous``."""
    old_modules = previous["results"].get("modules", {})
    per_module = dict(per_module)
    for module, entry in per_module.items():
        if entry["not_checked"] == entry["total"] and module in old_modules:
            per_module[module] = dict(old_modules[module], checked_on=old_modules[module].get("checked_on", previous["date"]))
            survivors = [s for s in survivors if s["module"] != module]
            survivors += [s for s in previous["results"].get("survivors", []) if s["module"] == module]
    return per_module, sorted(survivors, key=lambda s: (s["module"], s["name"]))


def collect(root: Path) -> tuple[dict[str, Counter], list[dict]]:
    """Statuses per module and the survivors (name, module, diff) from ``root/mutants``."""
    from mutmut.mutation.data import SourceFileMutationData
    from mutmut.mutation.diff_apply import get_diff_for_mutant
    from mutmut.stats import status_by_exit_code
    from mutmut.utils.file_utils import walk_mutatable_files

    statuses: dict[str, Counter] = {}
    survivors: list[dict] = []
    cwd = os.getcwd()
    os.chdir(root)  # mutmut reads pyproject.toml and mutants/ relative to the working directory
    try:
        for path in walk_mutatable_files():
            data = SourceFileMutationData(path=path)
            data.load()
            if not data.exit_code_by_key:
                continue
            module = Path(path).relative_to("src").with_suffix("").as_posix().replace("/", ".")
            statuses[module] = Counter(status_by_exit_code[code] for code in data.exit_code_by_key.values())
            for name, code in sorted(data.exit_code_by_key.items()):
                if status_by_exit_code[code] == "survived":
                    diff = changed_lines(get_diff_for_mutant(name, path=path))
                    survivors.append({"name": name, "module": module, "diff": diff})
    finally:
        os.chdir(cwd)
    return statuses, survivors


def main(argv: list[str] | None = None) -> int:
    p = common.parser(__doc__)
    p.add_argument("--root", type=Path, default=common.ROOT, help="project root holding mutants/ (default: this one)")
    args = p.parse_args(argv)
    out = common.out_dir(args)
    statuses, survivors = collect(args.root)
    if not statuses:
        print(f"no mutmut results under {args.root / 'mutants'}: run `make mutate` first")
        return 1
    previous_file = out / f"{NAME}.json"
    previous = json.loads(previous_file.read_text()) if previous_file.is_file() else {"results": {}}
    survivors = carry_reasons(survivors, previous["results"].get("survivors", []))
    per_module = module_rows(statuses)
    per_module, survivors = keep_unchecked_from_previous(per_module, survivors, previous)
    rows = [table_row(module, entry) for module, entry in per_module.items()]
    unreviewed = [s["name"] for s in survivors if s["reason"] == UNREVIEWED]
    goals = [
        {"goal": f"{module}: at least {GOAL:.0%} of mutants killed",
         "met": None if entry["not_checked"] else entry["score"] is not None and entry["score"] >= GOAL,
         "detail": f"{entry['killed']} of {entry['total']}" + (f", {entry['not_checked']} not checked" if entry["not_checked"] else "")}
        for module, entry in per_module.items()
    ]
    gaps = [s["name"] for s in survivors if s["reason"].startswith(TEST_GAP)]
    goals.append({"goal": "every survivor has a reason", "met": not unreviewed,
                  "detail": f"{len(unreviewed)} of {len(survivors)} unreviewed" if unreviewed else f"{len(survivors)} survivors"})
    goals.append({"goal": "no known test gap left", "met": not gaps,
                  "detail": f"{len(gaps)} survivors read '{TEST_GAP}': a test should kill them" if gaps else ""})
    mutmut_config = tomllib.loads((args.root / "pyproject.toml").read_text())["tool"]["mutmut"]
    rec = common.record(
        NAME, "Mutation testing (mutmut): adapt, losses, generator, metrics",
        quick=args.quick, devices=["cpu"],
        settings={"run_command": RUN_COMMAND, "mutmut": version("mutmut"), "config": mutmut_config,
                  "score": "killed / total (timeouts and survivors count against it)"},
        results={"modules": per_module, "survivors": survivors},
        tables=[{"title": "mutants per module",
                 "columns": ["module", "killed", "survived", "timeout", "not checked", "total", "score", "checked on (earlier run)"], "rows": rows}],
        goals=goals,
        notes=[f"survivors and their reasons: results.survivors in {NAME}.json"]
        + [f"{m}: run interrupted, {e['not_checked']} of {e['total']} mutants not checked" for m, e in per_module.items() if e["not_checked"]],
    )
    common.save(rec, out)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
