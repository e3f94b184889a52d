"""The real sentry-cli (npm @sentry/cli) against the mirror's web API, with nothing but
``SENTRY_URL`` pointing at the listener: releases, commits, deploys, source maps (with and
without debug ids), debug files and ProGuard mappings. Each command exits 0 and leaves the
records the design names; each upload record holds exactly the file sentry-cli built (its
SHA-1 is the checksum sentry-cli logged; a bundle's files are the inputs)."""

from __future__ import annotations

import hashlib
import io
import json
import re
import shutil
import zipfile
from pathlib import Path
from typing import Any

from sentry_mirror.core import record
from tests.conformance.clients import NODE_MODULES, SENTRY_CLI, Ran, _missing, need_node, run, sentry_cli_env

TOKEN = "sntrys_conformance-token-0123456789"
APP = """function explode(reason) {
  throw new Error("boom: " + reason);
}
export function main() {
  explode("from the app");
}
main();
"""


async def _cli(mirror: Any, tmp_path: Path, *args: str, cwd: Path | None = None, org: str = "acme") -> Ran:
    need_node("@sentry/cli")
    env = {**sentry_cli_env(mirror.url, tmp_path, TOKEN, org, "web"), "SENTRY_HTTP_MAX_RETRIES": "0"}
    ran = await run([str(SENTRY_CLI), "--log-level=debug", *args], env=env, cwd=cwd or tmp_path, timeout=60)
    assert 0 == ran.returncode, ran.stdout + ran.stderr
    assert TOKEN not in ran.stderr  # sentry-cli masks it in its own log too
    return ran


def _records(mirror: Any) -> list[dict[str, Any]]:
    return [r.data for r in mirror.records()]


def _body(entry: dict[str, Any]) -> bytes:
    return record.decode_bytes(entry["body"], entry["body_base64"])


def _checksums(log: str) -> list[str]:
    """The checksums of the files sentry-cli asked to assemble, from its debug log."""
    return re.findall(r'json body: \{"checksum":"([0-9a-f]{40})"', log) + re.findall(
        r'json body: \{"([0-9a-f]{40})":', log
    )


def _uploads(mirror: Any) -> list[dict[str, Any]]:
    return [r for r in _records(mirror) if r["endpoint"] == "upload"]


async def test_releases_commits_and_deploys(start_mirror: Any, tmp_path: Path) -> None:
    mirror = await start_mirror(repos=("acme/web",))
    await _cli(mirror, tmp_path, "releases", "new", "1.0.0")
    await _cli(mirror, tmp_path, "releases", "set-commits", "1.0.0", "--commit", "acme/web@0123456789abcdef")
    await _cli(mirror, tmp_path, "releases", "finalize", "1.0.0")
    await _cli(mirror, tmp_path, "deploys", "new", "--release", "1.0.0", "-e", "production", "-n", "ci")
    records = _records(mirror)
    assert all(r["auth"]["form"] == "bearer" and r["auth"]["token"].startswith("redacted:") for r in records)
    calls = [(r["method"], r["endpoint"], r["response"]["status"]) for r in records]
    assert [
        ("POST", "api_releases", 201),
        ("GET", "api_repos", 200),
        ("POST", "api_releases", 208),  # set-commits makes sure the release exists: Sentry's 208
        ("PUT", "api_release", 200),
        ("PUT", "api_release", 200),
        ("POST", "api_deploys", 201),
    ] == calls
    refs = json.loads(_body(records[3]))["refs"]
    assert [{"repository": "acme/web", "commit": "0123456789abcdef"}] == [
        {k: r[k] for k in ("repository", "commit")} for r in refs
    ]
    assert "dateReleased" in json.loads(_body(records[4]))
    deploy = json.loads(records[5]["response"]["body"])
    assert ("production", "ci") == (deploy["environment"], deploy["name"])
    assert {"org": "acme", "project": None, "release": "1.0.0"} == records[5]["api"]
    assert "new deploy 1.0.0" == records[5]["summary"]["title"]


async def test_set_commits_from_a_local_git_repository(mirror: Any, tmp_path: Path) -> None:
    git = shutil.which("git")
    if git is None:
        _missing("git", "apt-get install -y git")
    assert git is not None
    repo = tmp_path / "repo"
    repo.mkdir()
    for argv in (
        ["init", "-q"],
        ["-c", "user.email=a@b.c", "-c", "user.name=Dev", "commit", "-q", "--allow-empty", "-m", "first"],
    ):
        assert 0 == (await run([git, *argv], cwd=repo)).returncode
    sha = (await run([git, "rev-parse", "HEAD"], cwd=repo)).stdout.strip()
    await _cli(mirror, tmp_path, "releases", "new", "2.0.0")
    await _cli(mirror, tmp_path, "releases", "set-commits", "2.0.0", "--local", cwd=repo)
    put = [r for r in _records(mirror) if r["method"] == "PUT"][-1]
    assert [sha] == [c["id"] for c in json.loads(_body(put))["commits"]]
    assert sha == json.loads(put["response"]["body"])["lastCommit"]["id"]


async def _bundle(tmp_path: Path, name: str) -> Path:
    need_node("esbuild")
    source = tmp_path / name / "app.js"
    source.parent.mkdir()
    source.write_text(APP)
    esbuild = NODE_MODULES / ".bin" / "esbuild"
    ran = await run(
        [
            str(esbuild),
            str(source),
            "--bundle",
            "--minify",
            "--sourcemap",
            f"--outfile={source.parent / 'dist' / 'app.min.js'}",
        ]
    )
    assert 0 == ran.returncode, ran.stderr
    return source.parent / "dist"


def _bundle_files(upload: dict[str, Any]) -> tuple[dict[str, Any], dict[str, bytes]]:
    with zipfile.ZipFile(io.BytesIO(_body(upload))) as bundle:
        manifest = json.loads(bundle.read("manifest.json"))
        return manifest, {entry["url"]: bundle.read(path) for path, entry in manifest["files"].items()}


async def test_sourcemaps_with_debug_ids(mirror: Any, tmp_path: Path) -> None:
    dist = await _bundle(tmp_path, "injected")
    await _cli(mirror, tmp_path, "sourcemaps", "inject", str(dist))
    debug_id = json.loads((dist / "app.min.js.map").read_text())["debugId"]  # sentry-cli 3 writes debugId
    ran = await _cli(mirror, tmp_path, "sourcemaps", "upload", str(dist))
    [upload] = _uploads(mirror)
    assert _checksums(ran.stderr)[-1] == hashlib.sha1(_body(upload)).hexdigest() == upload["upload"]["checksum"]
    manifest, files = _bundle_files(upload)
    assert (dist / "app.min.js").read_bytes() == files["~/app.min.js"]
    assert (
        json.loads((dist / "app.min.js.map").read_bytes())["mappings"]
        == json.loads(files["~/app.min.js.map"])["mappings"]
    )
    assert {("minified_source", "~/app.min.js", debug_id), ("source_map", "~/app.min.js.map", debug_id)} == {
        (i["type"], i["headers"]["url"], i["headers"]["debug_id"]) for i in upload["summary"]["items"]
    }
    assert ("artifact_bundle", "acme", ["web"], None) == tuple(
        upload["upload"][k] for k in ("kind", "org", "projects", "release")
    )
    assert "acme" == manifest["org"] and f"Bundle ID: {manifest['debug_id']}" in ran.stdout
    assert _body(upload).startswith(b"SYSB")  # symbolic's source bundle header, then the zip
    assembles = [r for r in _records(mirror) if r["endpoint"] == "api_artifact_assemble"]
    assert ["not_found", "ok"] == [json.loads(r["response"]["body"])["state"] for r in assembles]
    assert upload["upload"]["request_id"] == assembles[-1]["id"]


async def test_sourcemaps_without_debug_ids_by_release(mirror: Any, tmp_path: Path) -> None:
    dist = await _bundle(tmp_path, "plain")
    ran = await _cli(mirror, tmp_path, "sourcemaps", "upload", "--release", "1.0.0", str(dist))
    [upload] = _uploads(mirror)
    assert _checksums(ran.stderr)[-1] == hashlib.sha1(_body(upload)).hexdigest()
    _, files = _bundle_files(upload)
    assert (dist / "app.min.js").read_bytes() == files["~/app.min.js"]
    assert ("1.0.0", "1.0.0") == (upload["upload"]["release"], upload["summary"]["release"])
    assert {None} == {i["headers"]["debug_id"] for i in upload["summary"]["items"]}


async def test_debug_files_upload(mirror: Any, tmp_path: Path) -> None:
    binary = tmp_path / "app"
    cc = shutil.which("cc")
    if cc is not None:
        (tmp_path / "app.c").write_text("int main(void) { return 0; }\n")
        assert 0 == (await run([cc, "-g", "-o", str(binary), str(tmp_path / "app.c")])).returncode
    else:  # any ELF with a build id does: Debian's /bin/true has one
        shutil.copy("/bin/true", binary)
    check = await _cli(mirror, tmp_path, "debug-files", "check", str(binary))
    debug_id = re.search(r"Debug ID: ([0-9a-f-]+)", check.stdout)
    assert debug_id is not None
    ran = await _cli(mirror, tmp_path, "debug-files", "upload", str(binary))
    [upload] = _uploads(mirror)
    assert binary.read_bytes() == _body(upload)
    assert _checksums(ran.stderr)[-1] == upload["upload"]["checksum"]
    assert ("debug_file", "web", "app", debug_id.group(1)) == tuple(
        upload["upload"][k] for k in ("kind", "project", "name", "debug_id")
    )
    assert f"OK {debug_id.group(1)}" in " ".join(ran.stdout.split())


async def test_upload_proguard(mirror: Any, tmp_path: Path) -> None:
    mapping = tmp_path / "mapping.txt"
    mapping.write_text("com.example.Main -> a:\n    void main(java.lang.String[]) -> a\n")
    ran = await _cli(mirror, tmp_path, "upload-proguard", str(mapping))
    [upload] = _uploads(mirror)
    assert mapping.read_bytes() == _body(upload)
    assert _checksums(ran.stderr)[-1] == upload["upload"]["checksum"]
    name = upload["upload"]["name"]
    assert re.fullmatch(r"/proguard/[0-9a-f-]{36}\.txt", name) and upload["upload"]["debug_id"] in name


async def test_info_checks_the_token(mirror: Any, tmp_path: Path) -> None:
    ran = await _cli(mirror, tmp_path, "info")
    assert "org:ci" in ran.stdout
    assert ["api_index"] == [r["endpoint"] for r in _records(mirror)]


async def test_an_org_slug_with_a_space_gets_its_chunk_url_encoded(mirror: Any, tmp_path: Path) -> None:
    mapping = tmp_path / "mapping.txt"
    mapping.write_text("com.example.Other -> b:\n    void run() -> a\n")
    await _cli(mirror, tmp_path, "upload-proguard", str(mapping), org="my org")
    [upload] = _uploads(mirror)
    assert ("my org", mapping.read_bytes()) == (upload["upload"]["org"], _body(upload))
