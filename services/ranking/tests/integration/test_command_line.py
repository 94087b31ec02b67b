"""The command line every service shares (docs/conventions.md): migrate, and demo-data, which for the
ranking loads nothing (its data is made of payments) and says so."""

import asyncio
import os
import sys


async def run(test_env, *args: str) -> tuple[int | None, str]:
    child = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "ranking_service",
        *args,
        env={**os.environ, **test_env},
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.STDOUT,
    )
    async with asyncio.timeout(60):
        out, _ = await child.communicate()
    return child.returncode, out.decode()


async def test_migrate_again_has_nothing_to_apply(migrated, test_env):
    code, out = await run(test_env, "migrate")
    assert code == 0, out
    assert "Applying" not in out


async def test_demo_data_loads_nothing_and_says_so(migrated, test_env, pool):
    before = await pool.fetchval("SELECT count(*) FROM sales")
    code, out = await run(test_env, "demo-data")
    assert code == 0, out
    assert "no demo data" in out
    assert await pool.fetchval("SELECT count(*) FROM sales") == before
