"""The pytest plugin (sentry_mirror/pytest_plugin.py), run by pytest itself (pytester).

The test files below run in a pytest of their own, in a subprocess where they use the real
sentry-sdk in process (its global client and worker thread stay out of this process). They
load the plugin by its module name, with the entry point's name blocked: that works the
same whether the installed distribution registers the entry point or not (loading one
module under two names is an error in pluggy). The tests of the entry point itself need
the package installed (``pip install -e .``), as CI does.
"""

from __future__ import annotations

import ast
import fnmatch
import hashlib
import importlib.metadata
import re
import subprocess
import sys
from pathlib import Path

import pytest

from sentry_mirror import pytest_plugin
from sentry_mirror.io.snapshot import iter_records

pytest_plugins = ["pytester"]

ROOT = Path(__file__).resolve().parent.parent
#: Load the plugin explicitly (see the module's docstring); no random test order inside.
PLUGIN = ("-p", "no:sentry_mirror", "-p", "sentry_mirror.pytest_plugin", "-p", "no:randomly", "-p", "no:cacheprovider")
#: Variables that would take the SDK's traffic away from the listener, or point it elsewhere.
FOREIGN_ENV = ("HTTP_PROXY", "HTTPS_PROXY", "ALL_PROXY", "http_proxy", "https_proxy", "all_proxy", "SENTRY_DSN")

IN_PROCESS = """
import pytest
import sentry_sdk


@pytest.fixture(autouse=True)
def sdk_closed():
    yield
    sentry_sdk.get_client().close()


def test_an_exception_arrives(sentry_mirror):
    sentry_sdk.init(dsn=sentry_mirror.dsn)
    try:
        1 / 0
    except ZeroDivisionError:
        sentry_sdk.capture_exception()
    [item] = sentry_mirror.wait_for(type="event")
    assert "ZeroDivisionError" == item.json["exception"]["values"][-1]["type"]
    assert [item.json] == sentry_mirror.events()
    assert [] == sentry_mirror.transactions()
    [envelope] = sentry_mirror.envelopes()
    assert item.json["event_id"] == envelope.headers["event_id"]
    [request] = sentry_mirror.requests()
    assert (200, "POST") == (request.status, request.method)
    assert request.sdk.startswith("sentry.python/")


def test_waiting_for_what_never_comes(sentry_mirror):
    sentry_sdk.init(dsn=sentry_mirror.dsn)
    sentry_sdk.capture_message("the only event")
    sentry_mirror.wait_for(type="transaction", timeout=0.5)


def test_personal_data_is_found(sentry_mirror):
    sentry_sdk.init(dsn=sentry_mirror.dsn)
    sentry_sdk.capture_message("order 7 for bob@example.com")
    sentry_mirror.wait_for(type="event")
    sentry_mirror.assert_no_personal_data()


def test_session_first(sentry_mirror_session):
    sentry_mirror_session.respond_with(status=429, retry_after=60)
    sentry_sdk.init(dsn=sentry_mirror_session.dsn)
    sentry_sdk.capture_message("first")
    sentry_mirror_session.wait_for(type="event")
    assert ["first"] == [e["message"] for e in sentry_mirror_session.events()]
    assert [429] == [r.status for r in sentry_mirror_session.requests()]


def test_session_second(sentry_mirror_session, sentry_mirror_shared):
    assert sentry_mirror_session is sentry_mirror_shared
    assert [] == sentry_mirror_session.events()  # the first test's event is forgotten
    sentry_sdk.init(dsn=sentry_mirror_session.dsn)
    sentry_sdk.capture_message("second")
    sentry_mirror_session.wait_for(type="event")
    assert ["second"] == [e["message"] for e in sentry_mirror_session.events()]
    assert [200] == [r.status for r in sentry_mirror_session.requests()]  # and so are its answers
"""

SUBPROCESS = """
import subprocess
import sys

APP = "import sentry_sdk; sentry_sdk.init(); sentry_sdk.capture_message(sys.argv[1])"


def test_an_app_in_a_subprocess(sentry_mirror):
    with sentry_mirror.environ() as dsn:
        assert dsn == sentry_mirror.dsn
        subprocess.run([sys.executable, "-c", "import sys;" + APP, "with environ()"], check=True)
    subprocess.run([sys.executable, "-c", "import sys;" + APP, "with env()"], check=True, env=sentry_mirror.env())
    items = sentry_mirror.wait_for(2, type="event")
    assert ["with environ()", "with env()"] == [item.json["message"] for item in items]
"""


@pytest.fixture
def plain_env(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in FOREIGN_ENV:
        monkeypatch.delenv(name, raising=False)


@pytest.mark.usefixtures("plain_env")
def test_tests_using_the_fixtures_with_the_real_sdk(pytester: pytest.Pytester, tmp_path: Path) -> None:
    """What the SDK sent in process and from subprocesses is read back; the failures read
    like pytest's own (what did arrive, no frames of sentry-mirror), and the session
    listener shows each test only its own events."""
    pytester.makepyfile(test_in_process=IN_PROCESS, test_subprocess=SUBPROCESS)
    kept = tmp_path / "kept"
    result = pytester.runpytest_subprocess(*PLUGIN, "--sentry-mirror-keep", str(kept), timeout=120)
    result.assert_outcomes(passed=4, failed=2)
    result.stdout.fnmatch_lines(
        [
            '>       sentry_mirror.wait_for(type="transaction", timeout=0.5)',
            "E       *WaitTimeout: waited 0.5 s for 1 item(s) of type 'transaction', found 0; 1 request(s) arrived:",
            "E         *  sentry.python/*  POST /api/1/envelope/ -> 200  [[]event[]]  'the only event'",
            "",
            "test_in_process.py:*: WaitTimeout",
        ]
    )
    result.stdout.fnmatch_lines(
        [
            ">       sentry_mirror.assert_no_personal_data()",
            "E       AssertionError: personal data in 1 field(s) of what the SDKs sent *",
            "E         event  message  email  b***@***.com  *",
            "",
            "test_in_process.py:*: AssertionError",
        ]
    )
    errors = [line for line in result.outlines if line.startswith("E ")]
    assert not [line for line in errors if "bob@example.com" in line]  # found and named, never shown
    assert not [line for line in result.outlines if "sentry_mirror/" in line]  # no frame of sentry-mirror
    assert {
        kept_name(
            "test_in_process.py_test_waiting_for_what_never_comes",
            "test_in_process.py::test_waiting_for_what_never_comes",
        ),
        kept_name("test_in_process.py_test_personal_data_is_found", "test_in_process.py::test_personal_data_is_found"),
    } == {path.name for path in kept.iterdir()}
    personal = "test_in_process.py::test_personal_data_is_found"
    assert list((kept / kept_name("test_in_process.py_test_personal_data_is_found", personal)).glob("*.jsonl.zst"))


def kept_name(readable: str, nodeid: str) -> str:
    """The directory ``--sentry-mirror-keep`` gives a test: its id made readable, ``-``, 8 hex of its sha1."""
    return f"{readable}-{hashlib.sha1(nodeid.encode()).hexdigest()[:8]}"


SEND = """
import urllib.request


def send(mirror, message):
    body = ('{}\\n{"type":"event"}\\n{"message":"%s"}\\n' % message).encode()
    url = f"http://127.0.0.1:{mirror.port}/api/1/envelope/?sentry_key=k"
    urllib.request.urlopen(urllib.request.Request(url, data=body, method="POST"), timeout=5).read()
"""

KEEP_ALIKE = (
    SEND
    + """
import pytest


@pytest.mark.parametrize("x", ["a/b", "a_b", "a b", "x" * 300], ids=["a/b", "a_b", "a b", "y" * 300])
def test_fails(sentry_mirror, x):
    send(sentry_mirror, x[:20])
    assert False
"""
)


def test_kept_snapshots_of_ids_that_read_alike_or_are_long_stay_apart(pytester: pytest.Pytester) -> None:
    """``test[a/b]``, ``test[a_b]`` and ``test[a b]`` get a directory each, and a 300-character
    id a name every file system takes (no error added to the failed test)."""
    pytester.makepyfile(test_keep=KEEP_ALIKE)
    kept = pytester.path / "kept"
    result = pytester.runpytest_subprocess(*PLUGIN, "--sentry-mirror-keep", str(kept), timeout=120)
    result.assert_outcomes(failed=4)
    ids = {"a/b": "a/b", "a_b": "a_b", "a b": "a b", "y" * 300: "x" * 20}
    expected = {
        kept_name(f"test_keep.py_test_fails_{re.sub('[/ ]', '_', i)}"[:100], f"test_keep.py::test_fails[{i}]"): message
        for i, message in ids.items()
    }
    assert set(expected) == {path.name for path in kept.iterdir()}
    for name, message in expected.items():
        assert 109 >= len(name)
        [record] = iter_records([kept / name])
        assert f'"message":"{message}"' in record.data["body"]


KEEP_CD = (
    SEND
    + """
def test_moves_and_fails(monkeypatch, tmp_path, sentry_mirror):
    monkeypatch.chdir(tmp_path)
    send(sentry_mirror, "moved")
    assert False
"""
)


def test_a_relative_keep_directory_is_the_invocation_s(pytester: pytest.Pytester) -> None:
    """A test that changes directory does not carry the kept snapshots into its ``tmp_path``
    (which pytest deletes later): a relative DIR is where pytest was started."""
    pytester.makepyfile(test_cd=KEEP_CD)
    result = pytester.runpytest_subprocess(*PLUGIN, "--basetemp", "bt", "--sentry-mirror-keep", "kept", timeout=120)
    result.assert_outcomes(failed=1)
    [kept] = (pytester.path / "kept").iterdir()
    assert kept.name == kept_name("test_cd.py_test_moves_and_fails", "test_cd.py::test_moves_and_fails")
    [record] = iter_records([kept])
    assert '"message":"moved"' in record.data["body"]
    assert [] == list((pytester.path / "bt").rglob("kept"))


def test_a_failure_to_keep_is_a_warning_and_an_earlier_run_s_copy_stays(pytester: pytest.Pytester) -> None:
    """The test fails for its own reason only: a DIR that cannot be made is a warning. A
    second run keeps its snapshots next to the first run's, not over them."""
    pytester.makepyfile(test_cd=KEEP_CD)
    (pytester.path / "a-file").write_text("not a directory")
    result = pytester.runpytest_subprocess(*PLUGIN, "--sentry-mirror-keep", "a-file/kept", timeout=120)
    result.assert_outcomes(failed=1, warnings=1)
    result.stdout.fnmatch_lines(
        ["*PytestWarning: --sentry-mirror-keep: could not keep the snapshots of test_cd.py::test_moves_and_fails: *"]
    )
    for _ in range(2):
        pytester.runpytest_subprocess(*PLUGIN, "--sentry-mirror-keep", "kept", timeout=120).assert_outcomes(failed=1)
    name = kept_name("test_cd.py_test_moves_and_fails", "test_cd.py::test_moves_and_fails")
    assert {name, f"{name}-2"} == {path.name for path in (pytester.path / "kept").iterdir()}
    assert 1 == len(list((pytester.path / "kept" / name).glob("*.jsonl.zst")))


@pytest.mark.usefixtures("plain_env")
def test_the_examples_of_the_docs_run(pytester: pytest.Pytester) -> None:
    """docs/testing.md's test files pass, and its library example prints what arrived."""
    files = docs_files()
    assert {"test_checkout.py", "test_worker.py", "test_session.py", "harness.py"} == set(files)
    harness = files.pop("harness.py")
    pytester.makepyfile(**{name.removesuffix(".py"): text for name, text in files.items()})
    result = pytester.runpytest_subprocess(*PLUGIN, timeout=120)
    result.assert_outcomes(passed=5)
    printed = subprocess.run([sys.executable, "-c", harness], capture_output=True, text=True, timeout=60)
    assert 0 == printed.returncode, printed.stderr
    sdk_and_message, items_by_type = printed.stdout.splitlines()
    assert fnmatch.fnmatch(sdk_and_message, "sentry.python*/* hello from the app"), sdk_and_message
    assert "{'event': 1}" == items_by_type


def docs_files() -> dict[str, str]:
    """The Python blocks of docs/testing.md that are whole files (a first line ``# NAME.py``), by name."""
    blocks = re.findall(r"```python\n# (\w+\.py)\n(.*?)```", (ROOT / "docs" / "testing.md").read_text(), re.S)
    return dict(blocks)


@pytest.mark.usefixtures("plain_env")
def test_the_flask_example_passes(pytester: pytest.Pytester) -> None:
    """examples/pytest/ (a Flask app and its tests using the fixture) runs as a user runs it,
    with its own pytest.ini."""
    result = pytester.runpytest_subprocess(*PLUGIN, str(ROOT / "examples" / "pytest"), timeout=120)
    result.assert_outcomes(passed=2)


def test_importing_the_plugin_imports_nothing_heavy() -> None:
    """Every pytest run of a project with sentry-mirror installed imports the plugin."""
    code = "import sys, sentry_mirror.pytest_plugin; print(' '.join(sorted(sys.modules)))"
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True, timeout=60)
    modules = set(result.stdout.split())
    assert {"sentry_mirror", "sentry_mirror.pytest_plugin"} == {m for m in modules if m.startswith("sentry_mirror")}
    assert set() == {m.split(".")[0] for m in modules} & {"aiohttp", "rich", "click", "zstandard", "orjson"}


#: What the plugin may use of pytest when it runs (annotations are never evaluated): all in pytest 7.0.
PYTEST_7_0 = {"hookimpl", "fixture", "PytestWarning"}


def test_the_plugin_needs_nothing_newer_than_pytest_7_0_and_pluggy_1_0() -> None:
    """The entry point loads the plugin into every pytest of an environment with sentry-mirror
    installed, whatever its version (docs/testing.md: pytest 7.0 and pluggy 1.0 on): an
    old-style hook wrapper (pluggy 1.1's ``wrapper=True`` is a TypeError before), no
    ``pytest.StashKey``, nothing else of pytest's newer than 7.0. Checked against those
    versions for real by hand (a venv with pytest==7.0.1, pluggy==1.0.0)."""
    tree = ast.parse(Path(pytest_plugin.__file__).read_text())
    annotations = {id(node) for annotation in annotations_of(tree) for node in ast.walk(annotation)}
    used = {
        node.attr
        for node in ast.walk(tree)
        if isinstance(node, ast.Attribute)
        and isinstance(node.value, ast.Name)
        and "pytest" == node.value.id
        and id(node) not in annotations
    }
    assert used <= PYTEST_7_0
    assert not [n for n in ast.walk(tree) if isinstance(n, ast.keyword) and "wrapper" == n.arg]
    assert not [n for n in ast.walk(tree) if isinstance(n, ast.Attribute) and n.attr in {"stash", "StashKey"}]
    options = pytest_plugin.pytest_runtest_makereport.pytest_impl  # type: ignore[attr-defined]
    assert (True, False) == (options["hookwrapper"], options.get("wrapper", False))


def annotations_of(tree: ast.Module) -> list[ast.expr]:
    """Every annotation of ``tree``: of variables, arguments and return values."""
    found: list[ast.expr | None] = []
    for node in ast.walk(tree):
        if isinstance(node, ast.AnnAssign | ast.arg):
            found.append(node.annotation)
        elif isinstance(node, ast.FunctionDef):
            found.append(node.returns)
    return [a for a in found if a is not None]


def test_the_installed_distribution_registers_the_plugin() -> None:
    """``pip install sentry-mirror`` is enough: pytest loads the plugin by its entry point."""
    [entry] = [ep for ep in importlib.metadata.entry_points(group="pytest11") if ep.name == "sentry_mirror"]
    assert "sentry_mirror.pytest_plugin" == entry.value
    assert entry.dist is not None and "sentry-mirror" == entry.dist.name


def test_the_plugin_loads_by_itself_and_p_no_turns_it_off(pytester: pytest.Pytester) -> None:
    """Without ``-p``, the installed entry point brings the fixtures; ``-p no:sentry_mirror``
    (the documented opt-out) takes them away."""
    pytester.makeini("[pytest]\nasyncio_default_fixture_loop_scope = function\n")  # pytest-asyncio's, of the test extra
    fixtures = {"sentry_mirror", "sentry_mirror_session", "sentry_mirror_shared"}
    assert fixtures <= listed_fixtures(pytester.runpytest("--fixtures"))
    assert set() == fixtures & listed_fixtures(pytester.runpytest("--fixtures", "-p", "no:sentry_mirror"))


def listed_fixtures(result: pytest.RunResult) -> set[str]:
    """The fixture names ``pytest --fixtures`` lists (each at the start of a line)."""
    return {line.split()[0] for line in result.outlines if line.strip() and not line[0].isspace()}
