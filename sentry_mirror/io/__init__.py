"""I/O edges: snapshot files, the recorder, the aiohttp server."""
