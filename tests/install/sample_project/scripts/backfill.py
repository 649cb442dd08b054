"""A one-off script, run by hand: pyproject.toml excludes scripts/ from the audit, so its sleep is not reported."""

import asyncio
import time


async def main():
    time.sleep(1)


asyncio.run(main())
