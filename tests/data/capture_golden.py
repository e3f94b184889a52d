"""Regenerate the golden snapshot of real sentry-python traffic (run by hand, on purpose).

    python tests/data/capture_golden.py

It starts a listener on 127.0.0.1 port 0, runs the same app traffic as
``tests/test_sdk_e2e.py`` with br, gzip and no compression, and writes
``tests/data/v<RECORD_VERSION>-sentry-python-<version>.jsonl.zst``. Golden files of past
record versions are kept forever: ``tests/io/test_golden.py`` reads every one of them.
"""

from __future__ import annotations

import asyncio
import shutil
import sys
import tempfile
from pathlib import Path

import sentry_sdk

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent.parent))

from sentry_mirror.core.record import RECORD_VERSION  # noqa: E402
from sentry_mirror.io.recorder import Recorder  # noqa: E402
from sentry_mirror.io.server import create_app, serve  # noqa: E402
from tests.test_sdk_e2e import _app_traffic  # noqa: E402


async def main() -> Path:
    with tempfile.TemporaryDirectory() as tmp:
        recorder = Recorder(tmp)
        await recorder.start()
        running = await serve(create_app(recorder), "127.0.0.1", 0)
        for experiments in (
            {"transport_compression_algo": "br"},
            {"transport_compression_algo": "gzip"},
            {"transport_compression_level": 0},
        ):
            sentry_sdk.init(
                f"http://mirror@127.0.0.1:{running.port}/1",
                release="shop@1.4.2",
                environment="golden",
                traces_sample_rate=1.0,
                enable_logs=True,
                default_integrations=False,
                auto_session_tracking=False,
                _experiments=experiments,
            )
            _app_traffic()
            await asyncio.to_thread(sentry_sdk.get_client().close, 10)
        await running.stop()
        await recorder.close()
        assert recorder.path is not None
        target = HERE / f"v{RECORD_VERSION}-sentry-python-{sentry_sdk.VERSION}.jsonl.zst"
        shutil.copyfile(recorder.path, target)
        return target


if __name__ == "__main__":
    print(asyncio.run(main()))
