"""The pure core: bytes and dicts in, values out.

Nothing here imports aiohttp, asyncio, click or rich, or opens a file
(``tests/test_layers.py`` enforces it).
"""
