"""The baseline for benchmarks/ingest.py: the least an aiohttp server can do per envelope.

It answers every request ``200 {}`` after appending the raw (still compressed) body
to one file, opened once, unbuffered, one ``write(2)`` per request. No decoding, no
parsing, no record: what is left is aiohttp's own cost plus one write.

    python benchmarks/bare_app.py --out FILE [--host 127.0.0.1] [--port 0]

Prints ``PORT <n>`` on stdout once bound; stops on SIGINT/SIGTERM.
"""

from __future__ import annotations

import argparse
import asyncio
import signal
import sys

from aiohttp import web

OUT: web.AppKey = web.AppKey("out", object)


async def handle(request: web.Request) -> web.Response:
    body = await request.read()
    request.app[OUT].write(body)
    return web.Response(status=200, body=b"{}", content_type="application/json")


async def main(host: str, port: int, out_path: str) -> None:
    out = open(out_path, "ab", buffering=0)  # noqa: SIM115 - open for the whole run
    app = web.Application(client_max_size=200 * 1024 * 1024)
    app[OUT] = out
    app.router.add_route("*", "/{tail:.*}", handle)
    # the same server settings as the mirror: no request decompression, no access log
    runner = web.AppRunner(app, auto_decompress=False, handle_signals=False, access_log=None)
    await runner.setup()
    site = web.TCPSite(runner, host, port, reuse_address=True)
    await site.start()
    bound = site._server.sockets[0].getsockname()[1]
    print(f"PORT {bound}", flush=True)
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for signum in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(signum, stop.set)
    try:
        await stop.wait()
    finally:
        await runner.cleanup()
        out.close()


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=0)
    parser.add_argument("--out", required=True, help="file the raw bodies are appended to")
    args = parser.parse_args()
    asyncio.run(main(args.host, args.port, args.out))
    sys.exit(0)
