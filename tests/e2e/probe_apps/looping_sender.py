"""Writes its pid into the file ``argv[1]``, then sends an envelope to SENTRY_DSN every 0.1 s,
for ever, whatever the answer or none: what a stubborn process left behind by a command does
(tests/io/test_probe.py, tests/ui/test_probe_command.py)."""

import os
import pathlib
import sys
import time
import urllib.request
from urllib.parse import urlsplit

pathlib.Path(sys.argv[1]).write_text(str(os.getpid()))
dsn = urlsplit(os.environ["SENTRY_DSN"])
url = f"http://{dsn.hostname}:{dsn.port}/api/1/envelope/?sentry_key=mirror&sentry_version=7"
while True:
    body = b'{}\n{"type":"event"}\n{"message":"again"}\n'
    try:
        urllib.request.urlopen(urllib.request.Request(url, data=body), timeout=30).read()
    except OSError:  # the listener has gone: keep trying, as a stubborn SDK would
        pass
    time.sleep(0.1)
