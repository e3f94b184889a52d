"""The installed JavaScript clients are the pinned ones, and the README names those versions."""

from __future__ import annotations

import json
from pathlib import Path

from tests.conformance.clients import JS_DIR, installed_version, need_node, pinned_version

README = (Path(__file__).parents[2] / "README.md").read_text()
PACKAGES = sorted(json.loads((JS_DIR / "package.json").read_text())["dependencies"])


def test_package_json_pins_exact_versions_and_the_lock_file_agrees() -> None:
    lock = json.loads((JS_DIR / "package-lock.json").read_text())["packages"]
    for package in PACKAGES:
        assert pinned_version(package)[0].isdigit(), package  # no ranges
        assert pinned_version(package) == lock[f"node_modules/{package}"]["version"]


def test_installed_versions_are_the_pinned_ones() -> None:
    need_node(*PACKAGES)
    for package in PACKAGES:
        assert pinned_version(package) == installed_version(package), f"stale install: run npm ci for {package}"


def test_readme_lists_the_tested_versions() -> None:
    tested = README.split("## Tested SDKs", 1)[1].split("\n## ", 1)[0]
    for package in PACKAGES:
        assert pinned_version(package) in tested, package
