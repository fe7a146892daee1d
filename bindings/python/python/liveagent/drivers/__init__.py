"""Ready drivers: :mod:`liveagent.drivers.blocking` (standard library, threads) and
:mod:`liveagent.drivers.aio` (asyncio on aiohttp, the ``async`` extra)."""
