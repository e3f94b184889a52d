"""Debug files end to end (issue 15), with real parts: the real sentry-cli uploads a real ELF
(Debian's ``/bin/true``, which has a build id) and a ProGuard mapping to a real listener;
the real sentry-python (a process of its own) sends events whose ``debug_meta`` names those
files, as native and Android SDKs do, and one file nobody uploaded; ``sentry-mirror
sourcemaps check`` (a process of the CLI) matches the images against the uploads.
"""

from __future__ import annotations

import json
import re
import shutil
import sys
from pathlib import Path
from typing import Any

from tests.conformance.clients import run
from tests.e2e.webapi_clients import ROOT, sentry_cli, sentry_mirror_json, upload_records

#: Sends one event per argument (a JSON event) with sentry-python; prints their ids.
SEND = """
import json, sys
import sentry_sdk
sentry_sdk.init(dsn=sys.argv[1], default_integrations=False)
for event in sys.argv[2:]:
    print(sentry_sdk.capture_event(json.loads(event)))
sentry_sdk.flush(10)
"""
MISSING = "0c1d2e3f-4a5b-6c7d-8e9f-a0b1c2d3e4f5"


async def test_native_and_proguard_images_match_the_uploaded_debug_files(mirror: Any, tmp_path: Path) -> None:
    binary = tmp_path / "checkout"
    shutil.copy("/bin/true", binary)
    checked = json.loads(await sentry_cli(mirror, tmp_path, "debug-files", "check", "--json", str(binary)))
    (elf_id,) = [v["debug_id"] for v in checked["variants"]]
    await sentry_cli(mirror, tmp_path, "debug-files", "upload", str(binary))
    mapping = tmp_path / "mapping.txt"
    mapping.write_text("com.example.shop.Checkout -> a.b:\n    void pay(int) -> a\n")
    await sentry_cli(mirror, tmp_path, "upload-proguard", str(mapping))
    uploads = upload_records(mirror)
    assert ["debug_file", "debug_file"] == [u["upload"]["kind"] for u in uploads]
    assert elf_id == uploads[0]["upload"]["debug_id"]
    found = re.fullmatch(r"/proguard/([0-9a-f-]{36})\.txt", uploads[1]["upload"]["name"])
    assert found is not None
    proguard_id = found.group(1)

    native = {
        "message": "crash in checkout",
        "level": "fatal",
        "platform": "native",
        "debug_meta": {
            "images": [
                {"type": "elf", "debug_id": elf_id, "code_file": "/srv/shop/checkout", "image_addr": "0x1000"},
                {"type": "elf", "debug_id": MISSING, "code_file": "/usr/lib/libpay.so", "image_addr": "0x9000"},
            ]
        },
    }
    android = {
        "message": "pay failed",
        "level": "error",
        "platform": "java",
        "debug_meta": {"images": [{"type": "proguard", "uuid": proguard_id}]},
    }
    ran = await run([sys.executable, "-c", SEND, mirror.dsn(), json.dumps(native), json.dumps(android)], cwd=ROOT)
    assert 0 == ran.returncode, ran.stderr
    event_ids = ran.stdout.split()
    assert 2 == len(event_ids) and all(re.fullmatch(r"[0-9a-f]{32}", e) for e in event_ids), ran.stdout
    assert set(event_ids) == {r.event_id for r in mirror.records() if r.data["endpoint"] == "envelope"}

    report = await sentry_mirror_json("sourcemaps", "check", "--json", str(mirror.directory))
    assert 2 == report["debug_files"]  # distinct debug ids uploaded
    assert {"images": 3, "matched": 2, "missing": 1} == {
        k: report["native"][k] for k in ("images", "matched", "missing")
    }
    assert [[MISSING, "/usr/lib/libpay.so"]] == report["native"]["missing_examples"]
