"""The benchmarks' pure pieces, and their --quick runs (the kedro-driven ones are slow)."""

import json
import os
import subprocess
import sys

import numpy as np
import pytest
import torch

from benchmarks import ablation_ordering as ablation
from benchmarks import adaptation_gain, common
from tests.paths import ROOT


def _fake(name: str, met, quick: bool = False) -> dict:
    return {
        "benchmark": name, "title": f"Title of {name}", "date": "2026-01-01T00:00:00+00:00",
        "command": f"python -m benchmarks.{name}", "cwd": "/x", "git": {"commit": "0123456789abcdef", "dirty": False},
        "machine": {"cpu_model": "Test CPU", "cpu_count": 4, "cpus_usable": 2, "memory_gb": 8.0, "torch": "2.x",
                    "torch_threads": 2, "devices": ["cpu"], "gpu": None},
        "quick": quick, "settings": {}, "results": {},
        "tables": [{"title": "numbers", "columns": ["a", "b|c"], "rows": [[1.23456, "x|y"], [None, True]]}],
        "goals": [{"goal": "be fast", "met": met, "detail": "12 s"}],
        "notes": ["a note"],
    }


def test_summary_is_rebuilt_from_every_json_present(tmp_path):
    (tmp_path / "one.json").write_text(json.dumps(_fake("one", True)))
    (tmp_path / "two.json").write_text(json.dumps(_fake("two", None, quick=True)))
    (tmp_path / "notes.txt").write_text("not a result")
    text = common.write_summary(tmp_path).read_text()
    assert text.startswith("# Benchmark results") and "2 result file(s)" in text
    assert text.index("## Title of one") < text.index("## Title of two (quick smoke run)")
    assert "commit 0123456789\n" in text and "Test CPU, 2 of 4 CPUs usable" in text
    assert "| a | b\\|c |" in text  # a | inside a cell is escaped
    assert "| 1.235 | x\\|y |" in text and "| n/a | yes |" in text
    assert "| be fast | yes | 12 s |" in text and "| be fast | n/a | 12 s |" in text
    (tmp_path / "two.json").unlink()
    text = common.write_summary(tmp_path).read_text()
    assert "Title of two" not in text and "1 result file(s)" in text


def test_save_writes_the_json_and_the_summary(tmp_path, capsys):
    rec = common.record("demo", "Demo", quick=True, devices=["cpu"], settings={"n": 1}, results={"x": 1.5},
                        tables=[{"columns": ["k"], "rows": [[1]]}], goals=[{"goal": "g", "met": False}], notes=[])
    path = common.save(rec, tmp_path, "demo-paper")
    assert path.name == "demo-paper.json"
    saved = json.loads(path.read_text())
    for key in ("date", "command", "git", "machine", "settings", "results"):
        assert saved[key] == rec[key]
    assert "pytest" in saved["command"] or "python" in saved["command"]
    assert "## Demo (quick smoke run)" in (tmp_path / "summary.md").read_text()
    assert "| g | no |" in capsys.readouterr().out


def test_machine_info_names_cpu_cores_torch_and_device(tmp_path):
    info = common.machine_info(["cpu"])
    assert info["cpu_count"] == os.cpu_count() and 1 <= info["cpus_usable"] <= info["cpu_count"]
    assert info["torch"] == torch.__version__ and info["devices"] == ["cpu"]
    assert info["cuda_available"] == torch.cuda.is_available() and (info["gpu"] is None) != info["cuda_available"]
    fake = tmp_path / "cpuinfo"
    fake.write_text("processor\t: 0\nvendor_id\t: X\nmodel name\t: Fancy CPU @ 3GHz\n\nprocessor\t: 1\nmodel name\t: Fancy CPU @ 3GHz\n")
    assert common.cpu_model(fake) == "Fancy CPU @ 3GHz"
    assert common.cpu_model(tmp_path / "missing")  # falls back to the platform's string


def test_numbers_and_params_helpers():
    assert common.join_params("a=1,b=2", {"b": 3, "c": "x"}, None, "") == "a=1,b=3,c=x"
    assert common.mean_std([1.0, 3.0]) == (2.0, pytest.approx(2**0.5))
    assert common.mean_std([5.0]) == (5.0, 0.0)
    assert common.pm([1.0, 3.0]) == "2.0 ± 1.4" and common.pm([0.25], 3) == "0.250"
    fit = common.linear_fit([1, 2, 4], [3, 5, 9])
    assert fit["slope"] == pytest.approx(2) and fit["intercept"] == pytest.approx(1) and fit["r2"] == pytest.approx(1)


def test_newest_version_of_a_versioned_file(tmp_path):
    with common.TempProject(keep=tmp_path / "work") as project:
        folder = project.path / "data" / "m.json"
        for version in ("2026-01-01T10.00.00.000Z", "2026-01-02T09.00.00.000Z"):
            (folder / version).mkdir(parents=True)
            (folder / version / "m.json").write_text(json.dumps({"v": version}))
        version, data = project.newest_json("data/m.json")
        assert version == "2026-01-02T09.00.00.000Z" and data["v"] == version
        with pytest.raises(FileNotFoundError, match="no versions"):
            project.newest("data/other.json")
    assert (tmp_path / "work" / "project" / "conf" / "base").is_dir()  # kept: --keep


def test_adaptation_gain_reductions_and_goal():
    runs = [
        {"target": "ski", "seed": s, "baseline": {"mpjpe": 100.0, "p_mpjpe": 60.0, "pck": 0.8, "auc": 0.4},
         "adapted": {"mpjpe": a, "p_mpjpe": 50.0, "pck": 0.9, "auc": 0.5}} for s, a in ((0, 70.0), (1, 90.0))
    ]
    per_target, rows, goals = adaptation_gain.summarise(runs, ["ski"])
    assert per_target["ski"]["mpjpe_reduction"] == pytest.approx([0.3, 0.1])
    assert per_target["ski"]["mean_mpjpe_reduction"] == pytest.approx(0.2) and goals[0]["met"]
    assert rows[0][:5] == ["ski", 2, "100.0 ± 0.0", "80.0 ± 14.1", "20.0 ± 14.1%"]


def test_ablation_rows_and_orderings():
    full = ablation.overrides("5", "full")
    assert full == ablation.overrides("6", "BG3") == ablation.overrides("7", "prob_axis_angle")  # one shared run
    assert ablation.overrides("5", ablation.BASELINE) is None
    assert ablation.overrides("5", "A1")[ablation.CAMERA] == "off"
    assert ablation.holds({"a": 1, "b": 2, "c": 3}, ("a", "b", "c"), "chain") is True
    assert ablation.holds({"a": 1, "b": 3, "c": 2}, ("a", "b", "c"), "chain") is False
    assert ablation.holds({"a": 1, "b": 3, "c": 2}, ("a", "b", "c"), "best") is True
    assert ablation.holds({"a": 1}, ("a", "b"), "best") is None
    per_seed = {0: {"6": {"BG1": 90.0, "BG2": 85.0, "BG3": 80.0}}, 1: {"6": {"BG1": 90.0, "BG2": 79.0, "BG3": 80.0}}}
    (goal,) = ablation.check_orderings(per_seed, ["6"])
    assert goal["met"] is True and "holds on 1 of 2 seed(s)" in goal["detail"]  # means: 80 < 82 < 90
    (goal,) = ablation.check_orderings({0: {"6": {"BG1": 1.0, "BG3": 2.0}}}, ["6"])
    assert goal["met"] is None and "BG2" in goal["detail"]


def test_ablation_records_the_guards_decision_per_row():
    metrics = {"overall": {"mpjpe": 100.0}, "gain_vs_control": {"mpjpe": 4.0}, "fallback": False, "selected_epoch": 3}
    assert ablation.guard_of(metrics) == {"fallback": False, "selected_epoch": 3, "control_mpjpe": 104.0}
    bg1 = ablation.overrides("6", "BG1")
    runs = [{"seed": 0, "row": "BG1", "overrides": bg1, "fallback": True}, {"seed": 1, "row": "BG1", "overrides": bg1, "fallback": False},
            {"seed": 0, "row": "full", "overrides": ablation.overrides("5", "full"), "fallback": False}]
    assert ablation.fallbacks(runs, "6", "BG1") == "1/2"
    assert ablation.fallbacks(runs, "6", "BG3") == "0/1"  # the full method's shared run
    assert ablation.fallbacks(runs, "5", "baseline") == "-"


def test_ablation_rows_are_the_ablation_pipelines_rows():
    from adaptpose_pipeline.pipelines.ablation.nodes import TABLES

    for table, rows in ablation.TABLES.items():
        assert tuple(rows) == TABLES[int(table)], f"table {table}"
    assert ablation.TABLES["5"]["A3"][1] == {"adapt.domain_discriminator": "false", "adapt.selection.enabled": "false"}


def test_generator_agreement_check_catches_a_difference(monkeypatch):
    """The batched vs per-sample check agrees to rounding, and notices different noise."""
    from benchmarks import generator_throughput as G

    cfg, gen_cfg, lifter_cfg, norm = G.configs(None)
    worst = G.agreement(cfg, gen_cfg, lifter_cfg, norm, 4, 2, torch.device("cpu"))
    assert max(worst.values()) < 1e-9
    draw = G.FixedNoise.__call__
    monkeypatch.setattr(G.FixedNoise, "__call__", lambda self, b, d, like, g: draw(self, b, d, like, g) + 1e-3 * (b == 1))
    assert max(G.agreement(cfg, gen_cfg, lifter_cfg, norm, 4, 2, torch.device("cpu")).values()) > 1e-4


def test_throughput_benchmark_steps_as_the_pipelines_loop_does():
    """The benchmark's timed step is the adaptation loop's step: after one step of
    ``core.adapt.adapt`` and one benchmark step built the same way, the generator's and
    the critics' parameters agree to 1e-6."""
    from benchmarks import generator_throughput as G
    from adaptpose_pipeline.core import adapt as A
    from adaptpose_pipeline.core.generator import GeneratorConfig
    from adaptpose_pipeline.core.lifter import LifterCheckpoint, LifterConfig, TemporalModel
    from tests.core.test_adapt import _arrays

    torch.manual_seed(0)
    lifter_cfg = LifterConfig(filter_widths=(3,), channels=16, dropout=0.0)
    baseline = LifterCheckpoint(lifter_cfg, TemporalModel(lifter_cfg).state_dict())
    gen_cfg = GeneratorConfig(frames=3, hidden=32)
    cfg = A.AdaptConfig(epochs=1, warmup_epochs=0, batch_size=16, samples_per_epoch=16, pool_size=64, proj_batch=4)
    source, target, cpu, seed = _arrays(4, 20, 0), _arrays(3, 20, 1, with_3d=False), torch.device("cpu"), 7
    saved = []
    A.adapt(source, target, baseline, gen_cfg, cfg, "screen", False, cpu, seed, progress=False, on_checkpoint=saved.append)

    # the loop's construction order (core.adapt.adapt), then the benchmark's step
    torch.manual_seed(seed)
    nets = A.AdaptNets(baseline, gen_cfg, cfg, cpu)
    torch.manual_seed(int(np.random.SeedSequence([seed, 3]).generate_state(1)[0]))
    rng = np.random.default_rng(seed)
    src, tgt = A._Source(source, 3, cfg, cpu).batch(16, rng), A._Target(target, 3, cpu).batch(16, rng)
    ctx = G.Context(cfg, "screen", False, torch.Generator(device=cpu).manual_seed(seed))
    out = G.adaptation_step(nets, ctx, src, tgt, 0, 0)
    assert set(out) >= {"fake_2d", "keep", "g_total", "d_2d"}
    moved = 0
    for name in ("generator", "d2d", "d3d"):
        module = dict(nets.modules())[name]
        for key, value in module.named_parameters():
            torch.testing.assert_close(value.detach(), saved[0][name][key], atol=1e-6, rtol=0, msg=f"{name}.{key}")
            moved += not torch.equal(value.detach(), dict(A.AdaptNets(baseline, gen_cfg, cfg, cpu).modules())[name].state_dict()[key])
    assert moved > 0  # the step changed the networks: the comparison is not of two untouched copies


def _run(module: str, *args: str, out=None) -> subprocess.CompletedProcess:
    env = dict(os.environ, OMP_NUM_THREADS="1", DO_NOT_TRACK="true")
    argv = [sys.executable, "-m", f"benchmarks.{module}", *args] + (["--out", str(out)] if out else [])
    return subprocess.run(argv, cwd=ROOT, env=env, capture_output=True, text=True, timeout=300)


@pytest.mark.parametrize("module", ["generator_throughput", "lifter_throughput"])
def test_throughput_quick_runs(module, tmp_path):
    out = _run(module, "--quick", "--device", "cpu", out=tmp_path)
    assert out.returncode == 0, out.stderr[-3000:]
    rec = json.loads((tmp_path / f"{module}.json").read_text())
    assert rec["quick"] and rec["machine"]["devices"] == ["cpu"] and "--quick" in rec["command"]
    assert rec["tables"][0]["rows"] and (tmp_path / "summary.md").is_file()
    if module == "generator_throughput":
        assert all(g["met"] for g in rec["goals"])  # batched and per-sample agree
        assert rec["results"]["runs"][0]["speedup"] > 0


@pytest.mark.slow
def test_epoch_memory_quick_run(tmp_path):
    out = _run("epoch_memory", "--quick", out=tmp_path)
    assert out.returncode == 0, out.stderr[-3000:]
    rec = json.loads((tmp_path / "epoch_memory.json").read_text())
    assert [r["samples"] for r in rec["results"]["runs"]] == [4000, 4000, 40000]
    assert all(r["peak_rss_mb"] > 0 and r["seconds"] > 0 for r in rec["results"]["runs"])


@pytest.mark.skipif(torch.cuda.is_available(), reason="checks the message shown where CUDA is absent")
@pytest.mark.parametrize("module", ["generator_throughput", "lifter_throughput", "end_to_end"])
def test_cuda_benchmarks_skip_cleanly_without_cuda(module, tmp_path):
    out = _run(module, "--device", "cuda", "--env", "paper", out=tmp_path)
    assert out.returncode == 0, out.stderr[-3000:]
    assert "skipped" in out.stdout and "CUDA is not available" in out.stdout
    assert not list(tmp_path.iterdir())


@pytest.mark.slow
@pytest.mark.parametrize("module", ["adaptation_gain", "ablation_ordering", "end_to_end", "scaling", "sweep_workers", "ddp_scaling"])
def test_kedro_benchmarks_quick_runs(module, tmp_path):
    out = _run(module, "--quick", out=tmp_path)
    assert out.returncode == 0, out.stdout[-3000:] + out.stderr[-3000:]
    rec = json.loads((tmp_path / f"{module}.json").read_text())
    assert rec["quick"] and rec["tables"][0]["rows"]


def test_mutation_report_counts_carries_reasons_and_keeps_unchecked_modules():
    from collections import Counter

    from benchmarks import mutation

    per_module = mutation.module_rows({"m.a": Counter(killed=8, survived=1, timeout=1), "m.b": Counter({"not checked": 3})})
    assert per_module["m.a"] == {"killed": 8, "survived": 1, "timeout": 1, "not_checked": 0, "other": 0, "total": 10, "score": 0.8}
    partial = mutation.module_rows({"m.c": Counter({"killed": 3, "survived": 1, "not checked": 6})})["m.c"]
    assert partial["score"] == 0.3 and partial["score_of_checked"] == 0.75
    assert mutation.table_row("m.c", partial)[6] == "30.0% (75.0% of those checked)"
    assert mutation.changed_lines("--- a\n+++ a\n@@ -1 +1 @@\n-x = 1\n+x = 2\n y\n") == ["-x = 1", "+x = 2"]
    old = {"name": "m.a.x_f__mutmut_1", "module": "m.a", "diff": ["-a", "+b"], "reason": "equivalent"}
    new = [{"name": old["name"], "module": "m.a", "diff": ["-a", "+b"]}, {"name": old["name"], "module": "m.a", "diff": ["-a", "+c"]}]
    assert [s["reason"] for s in mutation.carry_reasons(new, [old])] == ["equivalent", mutation.UNREVIEWED]
    old_b = {"name": "m.b.x_g__mutmut_2", "module": "m.b", "diff": ["-p"], "reason": "not worth a test"}
    previous = {"date": "2026-01-01T00:00:00+00:00", "results": {"modules": {"m.b": {"killed": 2, "total": 3, "score": 0.6667}}, "survivors": [old_b]}}
    kept, survivors = mutation.keep_unchecked_from_previous(per_module, new[:1], previous)
    assert kept["m.a"] == per_module["m.a"] and kept["m.b"]["score"] == 0.6667 and kept["m.b"]["checked_on"].startswith("2026-01-01")
    assert survivors == [new[0], old_b]
    assert mutation.table_row("m.b", kept["m.b"] | {"survived": 1, "timeout": 0, "not_checked": 0})[-2:] == ["66.7%", "2026-01-01"]


def _devbench_run(target, seed, control, adapted, fallback=False):
    return {
        "target": target, "seed": seed, "seconds": 1.0, "frames": 10, "fallback": fallback, "selected_epoch": None if fallback else 2,
        "baseline": {"mpjpe": 120.0}, "control": {"mpjpe": control}, "adapted": {"mpjpe": adapted},
        "source_val": {"control": 72.0, "adapted": 76.0}, "source_pose_val": {"control": 71.0, "adapted": 74.0},
        "control_retargeted": None if fallback else control - 5.0,
    }


def test_devbench_merges_runs_made_in_parallel_and_checks_the_goals(tmp_path):
    from benchmarks import devbench

    parts = []
    for i, runs in enumerate([
        [_devbench_run("3dhp", 0, 100.0, 80.0), _devbench_run("3dhp", 1, 110.0, 100.0)],
        [_devbench_run("ski", 0, 100.0, 101.0, fallback=True)],
    ]):
        rec = {"settings": {"params": ""}, "results": {"runs": runs}}
        parts.append(tmp_path / f"part{i}.json")
        parts[-1].write_text(json.dumps(rec))
    assert devbench.main(["--merge", *map(str, parts), "--out", str(tmp_path / "out")]) == 0
    out = json.loads((tmp_path / "out" / "devbench.json").read_text())
    per = out["results"]["per_target"]
    assert list(per) == ["3dhp", "ski"]
    assert per["3dhp"]["gain_vs_control_percent"] == pytest.approx(100 * (105 - 90) / 105)
    assert per["ski"]["fallbacks"] == 1 and per["3dhp"]["source_pose_val"]["adapted"] == [74.0, 74.0]
    goals = {g["goal"]: g["met"] for g in out["goals"]}
    assert goals["3dhp: adapted MPJPE >= 15% below the control (mean over seeds)"] is False  # 14.3%
    assert goals["ski: adapted MPJPE >= 0% below the control (mean over seeds)"] is False
    assert goals["3dhp: adapted source validation MPJPE <= control + 2 mm"] is False  # +4 mm
    assert any("INCOMPLETE: 3 of 4" in n for n in out["notes"])  # 3 runs of 2 targets x 2 seeds
    (table,) = out["tables"]
    rows = {r[0]: dict(zip(table["columns"], r)) for r in table["rows"]}
    assert rows["3dhp"]["control, retargeted"] == "100.0 ± 7.1" and rows["ski"]["control, retargeted"] == "-"
    assert per["3dhp"]["control_retargeted"] == [95.0, 105.0]


def _versioned(root, rel, write):
    path = root / rel / "2026-01-01T00.00.00.000Z" / rel.split("/")[-1]
    path.parent.mkdir(parents=True)
    write(path)


def test_devbench_scores_the_control_with_the_adapted_lifters_retargeting(tmp_path):
    from adaptpose_pipeline.core.lifter import LifterCheckpoint, LifterConfig, TemporalModel
    from adaptpose_pipeline.core.training import predict_sequences
    from adaptpose_pipeline.evaluation.metrics_file import evaluate_predictions
    from benchmarks import devbench

    cfg = LifterConfig(filter_widths=(1,), channels=8)
    torch.manual_seed(0)
    control = LifterCheckpoint(cfg, TemporalModel(cfg).state_dict(), {})
    retarget = {"ratios": [0.8 + 0.03 * i for i in range(16)], "normalisation": "frobenius", "rescale_output": True}
    adapted = {**control.to_payload(), "info": {"retarget": retarget}}
    rng = np.random.default_rng(0)
    arrays = {"pose_2d": rng.normal(0, 0.2, (6, 17, 2)).astype(np.float32), "pose_3d": rng.normal(0, 0.2, (6, 17, 3)).astype(np.float32),
              "valid": np.ones(6, bool), "seq_start": np.array([0, 3]), "seq_length": np.array([3, 3]),
              "seq_name": np.array(["a", "b"])}
    arrays["pose_3d"][:, 0] = 0
    _versioned(tmp_path, "data/06_models/t/lifter_control.pt", lambda p: torch.save(control.to_payload(), p))
    _versioned(tmp_path, "data/06_models/t/lifter_adapted.pt", lambda p: torch.save(adapted, p))
    _versioned(tmp_path, "data/05_model_input/t/target_test.npz", lambda p: np.savez(p, **arrays))

    class Project:
        path = tmp_path
        newest = common.TempProject.newest

    got = devbench.retargeted_control(Project(), "t", "h36m17")
    wrapped = LifterCheckpoint(cfg, control.state_dict, {"retarget": retarget}).model()
    expected = evaluate_predictions(predict_sequences(wrapped, arrays, torch.device("cpu")), arrays)["overall"]["mpjpe"]
    plain = evaluate_predictions(predict_sequences(control.model(), arrays, torch.device("cpu")), arrays)["overall"]["mpjpe"]
    assert got == pytest.approx(expected) and got != pytest.approx(plain)
    _versioned(tmp_path, "data/06_models/u/lifter_adapted.pt", lambda p: torch.save(control.to_payload(), p))
    assert devbench.retargeted_control(Project(), "u", "h36m17") is None  # no retargeting (fallback, other modes)


def test_devbench_needs_data_or_merge(capsys):
    from benchmarks import devbench

    with pytest.raises(SystemExit):
        devbench.main([])
    assert "--data is required" in capsys.readouterr().err


def test_sweep_benchmark_reads_each_task_s_time_from_the_summary():
    from benchmarks.sweep_workers import task_seconds

    text = (
        "task                   status   attempts  wall\n---------------------  -------  --------  ------\n"
        "prepare 3dhp seed0     ok              1     35 s\n"
        "table6/BG1 3dhp seed0  ok*             2     31 s\n"
        "table6/BG3 3dhp seed0  failed          2      0 s\n"
        "2 ok (1 after a retry, marked ok*), 1 failed, 0 skipped; 68 s in all\n"
    )
    assert task_seconds(text) == {"prepare 3dhp seed0": 35.0, "table6/BG1 3dhp seed0": 31.0}
