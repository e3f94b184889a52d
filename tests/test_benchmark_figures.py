"""The benchmark figures in the docs come from the committed results files, not from typing:
benchmarks/figures.py regenerates them, and its check passes on the committed tree. No
benchmark runs here."""

from __future__ import annotations

import importlib.util
import json
import os
import shutil
import subprocess
import sys
from pathlib import Path
from types import ModuleType
from typing import Any

import pytest

ROOT = Path(__file__).resolve().parent.parent
BENCHMARKS = ROOT / "benchmarks"


def load(name: str) -> ModuleType:
    spec = importlib.util.spec_from_file_location(f"benchmarks_{name}", BENCHMARKS / f"{name}.py")
    assert spec and spec.loader
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


figures = load("figures")
compare = load("compare")
resultfile = load("resultfile")


def copy_tree(tmp_path: Path) -> Path:
    """The docs with figure blocks and the results files, in a checkout of their own."""
    for relative in figures.DOCS:
        (tmp_path / relative).parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(ROOT / relative, tmp_path / relative)
    shutil.copytree(ROOT / figures.RESULTS, tmp_path / figures.RESULTS)
    return tmp_path


def edit_results(root: Path, name: str, change: Any) -> None:
    path = root / figures.RESULTS / f"{name}.json"
    doc = json.loads(path.read_text())
    change(doc)
    path.write_text(json.dumps(doc))


def test_the_committed_docs_match_the_committed_results(capsys: pytest.CaptureFixture[str]) -> None:
    assert figures.main(["--check"]) == 0, capsys.readouterr().err


def test_every_block_has_a_renderer_and_every_renderer_a_block() -> None:
    names = [m["name"] for relative in figures.DOCS for m in figures.BLOCK.finditer((ROOT / relative).read_text())]
    assert sorted(set(names)) == sorted(figures.RENDERERS)


@pytest.mark.parametrize("path", sorted((ROOT / "benchmarks" / "results").glob("*.json")), ids=lambda p: p.name)
def test_each_results_file_says_when_where_and_how(path: Path) -> None:
    doc = json.loads(path.read_text())
    assert path.stem.startswith(doc["benchmark"])
    assert doc["date"] and doc["commit"] and doc["command"].startswith(f"python benchmarks/{doc['benchmark']}.py")
    assert {"cores", "cpu_model", "python"} <= doc["machine"].keys()
    assert isinstance(doc["params"], dict) and doc["figures"]
    assert doc["headline"]
    for figure in doc["headline"].values():
        assert figure["better"] in ("higher", "lower") and isinstance(figure["value"], int | float)


def test_a_changed_figure_changes_the_doc_block(tmp_path: Path) -> None:
    root = copy_tree(tmp_path)
    performance = root / "docs" / "performance.md"
    before = performance.read_text()
    assert "| 9.87x |" not in before

    def slower(doc: dict[str, Any]) -> None:
        doc["figures"]["ratios"]["cpu_per_envelope"] = 9.87
        doc["figures"]["targets"]["cpu_per_envelope"] = False

    edit_results(root, "ingest", slower)
    assert figures.main(["--check", "--root", str(root)]) == 1
    assert performance.read_text() == before  # --check changes nothing

    assert figures.main(["--root", str(root)]) == 0
    after = performance.read_text()
    row = next(line for line in after.splitlines() if line.startswith("| `listen`: server CPU per envelope |"))
    assert "| 9.87x a bare aiohttp app's" in row and row.endswith("| at most 2x: not met |")
    assert "| mirror/bare CPU per envelope ≤ 2x under load | 9.87x: pairs" in after
    # only the blocks change: the text around them stays as written
    assert figures.BLOCK.sub("", after) == figures.BLOCK.sub("", before)
    assert figures.main(["--check", "--root", str(root)]) == 0


def test_a_changed_bombs_figure_changes_the_reliability_page(tmp_path: Path) -> None:
    root = copy_tree(tmp_path)
    edit_results(root, "bombs", lambda doc: doc["figures"]["listen"].update(listener_peak_rss_mb=4321.0))
    assert figures.main(["--root", str(root)]) == 0
    assert "peak the listener at 4321 MB" in (root / "docs" / "reliability.md").read_text()
    assert "| listener peak RSS | 4321 MB | 500 MB: not met |" in (root / "benchmarks" / "README.md").read_text()


def test_a_changed_forward_figure_changes_its_block_and_the_summary(tmp_path: Path) -> None:
    root = copy_tree(tmp_path)

    def costlier(doc: dict[str, Any]) -> None:
        doc["figures"]["ratios"]["cpu_per_request"] = 9.87
        doc["figures"]["targets"]["cpu_per_request"] = False

    edit_results(root, "forward", costlier)
    assert figures.main(["--root", str(root)]) == 0
    text = (root / "docs" / "performance.md").read_text()
    assert "| `--forward`/`listen` listener CPU per request ≤ 1.3x | 9.87x: pairs" in text
    assert (
        "| `listen --forward`: listener CPU per request | – | 9.87x plain `listen`'s | at most 1.3x: not met |" in text
    )


def test_a_missing_results_file_is_named(tmp_path: Path) -> None:
    root = copy_tree(tmp_path)
    (root / figures.RESULTS / "replay.json").unlink()
    with pytest.raises(SystemExit, match="no results for replay"):
        figures.main(["--check", "--root", str(root)])


def test_an_unknown_block_is_refused() -> None:
    with pytest.raises(SystemExit, match="unknown figure block 'nope'"):
        figures.rewrite("<!-- figures: nope -->\n<!-- /figures -->\n", {})


@pytest.mark.parametrize(
    ("old", "new", "better", "word"),
    [
        (2.0, 2.08, "lower", "ok"),
        (2.0, 1.92, "lower", "ok"),
        (2.0, 2.2, "lower", "WORSE"),
        (2.0, 1.8, "lower", "better"),
        (8000, 7000, "higher", "WORSE"),
        (8000, 9000, "higher", "better"),
    ],
)
def test_compare_judges_each_figure_in_its_direction(old: float, new: float, better: str, word: str) -> None:
    assert compare.verdict(old, new, better, 5.0)[1] == word


def test_compare_exits_1_on_a_regression_beyond_noise(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    committed = ROOT / figures.RESULTS / "ingest.json"
    doc = json.loads(committed.read_text())
    doc["headline"]["cpu_ratio"]["value"] *= 1.10
    worse = tmp_path / "new.json"
    worse.write_text(json.dumps(doc))
    assert compare.main([str(committed), str(committed)]) == 0
    assert compare.main([str(committed), str(worse)]) == 1
    assert "+10.0%  WORSE" in capsys.readouterr().out


def test_the_recorded_command_can_be_typed_again() -> None:
    argv = [str(BENCHMARKS / "read.py"), "--count", "200000", "--note", "quick settings", "--out=/tmp/x.json", "--json"]
    assert resultfile._command(argv) == "python benchmarks/read.py --count 200000"
    assert resultfile._command([str(BENCHMARKS / "bombs.py"), "--tree", "/tmp/a b"]) == (
        "python benchmarks/bombs.py --tree '/tmp/a b'"
    )


def test_results_are_strict_json_and_go_where_asked(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    started = resultfile.begin()
    assert {"date", "commit", "dirty", "command", "machine"} <= started.keys()
    assert {"cores", "cpu_model", "python", "load_average"} <= started["machine"].keys()
    doc = resultfile.document(
        "read",
        {"count": 10, "out": tmp_path / "r.json", "json": True, "note": None},
        {"x": resultfile.headline(1.5, "higher", "x")},
        {"p99_ms": float("nan"), "runs": [{"rate": float("inf")}], "path": tmp_path},
        started,
    )
    assert doc["params"] == {"count": 10, "note": None}  # where the results go is not a parameter
    out = tmp_path / "sub" / "r.json"
    resultfile.emit(doc, out, also_stdout=True)
    written = json.loads(out.read_text())
    assert written["figures"] == {"p99_ms": None, "runs": [{"rate": None}], "path": str(tmp_path)}
    assert json.loads(capsys.readouterr().out) == written
    resultfile.emit(doc, Path("-"), also_stdout=False)
    assert not Path("-").exists()


def test_a_changed_pii_figure_changes_its_block(tmp_path: Path) -> None:
    root = copy_tree(tmp_path)

    def noisier(doc: dict[str, Any]) -> None:
        doc["figures"]["engines"]["builtin"].update(false_positives=3, planted_recall=0.5)

    edit_results(root, "pii", noisier)
    assert figures.main(["--root", str(root)]) == 0
    text = (root / "docs" / "performance.md").read_text()
    assert "| built-in (every JSON item): no false positive on the real SDK captures | 3 | not met |" in text
    assert "| built-in (every JSON item): recall ≥ 95% on the planted set | 50.0% | not met |" in text


def test_a_changed_workers_figure_changes_its_block_and_the_summary(tmp_path: Path) -> None:
    root = copy_tree(tmp_path)

    def slower(doc: dict[str, Any]) -> None:
        doc["figures"]["ratios"].update(requests_per_s=1.23, cpu_per_request=1.45)
        doc["figures"]["targets"].update(requests_per_s=False, cpu_per_request=False)

    edit_results(root, "workers", slower)
    assert figures.main(["--root", str(root)]) == 0
    text = (root / "docs" / "performance.md").read_text()
    assert "| `--workers 2` / `--workers 1` requests/s ≥ 1.6x | 1.23x: pairs" in text
    assert "| 1.23x `--workers 1`'s | at least 1.6x: not met |" in text
    assert "| 1.45x `--workers 1`'s | no more: not met |" in text


def test_a_changed_jobs_figure_changes_its_block_and_the_summary(tmp_path: Path) -> None:
    root = copy_tree(tmp_path)

    def worse(doc: dict[str, Any]) -> None:
        last = list(doc["figures"]["summary"].values())[-1]
        last.update(max_process_rss_mb=432.0, same_output=False)
        doc["figures"]["targets"].update(rss=False, same_output=False)

    edit_results(root, "jobs", worse)
    assert figures.main(["--root", str(root)]) == 0
    text = (root / "docs" / "performance.md").read_text()
    assert "| `--jobs 2` prints what `--jobs 1` prints, byte for byte | no | not met |" in text
    assert "| largest 432 MB (" in text
    assert "| 432 MB | – | 300 MB: not met |" in text


def test_a_changed_sql_figure_changes_its_block_and_the_summary(tmp_path: Path) -> None:
    root = copy_tree(tmp_path)

    def slower(doc: dict[str, Any]) -> None:
        doc["figures"].update(speedup=2.5, same_count=False)
        doc["figures"]["targets"]["speedup"] = False

    edit_results(root, "sql", slower)
    assert figures.main(["--root", str(root)]) == 0
    text = (root / "docs" / "performance.md").read_text()
    assert "The query answers 2.5x faster than the report (target 5x: not met)" in text
    assert "(they differ: see the results file)" in text
    assert "| 2.5x faster than `report` | 5x: not met |" in text


def test_the_process_tree_is_measured_child_by_child() -> None:
    """proctree (workers.py's and jobs.py's CPU and memory of a process and its workers): a real
    child that starts a grandchild holding 64 MB; both are found, and the grandchild's peak is its own."""
    proctree = load("proctree")
    code = (
        "import subprocess, sys, time; c = subprocess.Popen([sys.executable, '-c',"
        " 'import time; b = bytearray(64 << 20); time.sleep(1.5)']); c.wait()"
    )
    proc = subprocess.Popen([sys.executable, "-c", code])
    with proctree.PeakRss(proc.pid, interval=0.02) as peaks:
        assert proc.wait(timeout=30) == 0
    result = peaks.figures()
    assert result["processes"] == 2
    assert result["max_worker_peak_rss_mb"] >= 64
    assert result["parent_peak_rss_mb"] < result["max_worker_peak_rss_mb"]
    sleeper = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(30)"])
    try:
        assert {os.getpid(), sleeper.pid} <= set(proctree.tree(os.getpid()))
        assert sleeper.pid not in proctree.tree(proc.pid)
    finally:
        sleeper.kill()
        sleeper.wait()
    assert os.getpid() in proctree.tree_cpu(os.getpid())
