"""``--reload``: an edit reloads through the same path as SIGHUP; a broken edit keeps the last good code."""

from __future__ import annotations

from pathlib import Path

from process_harness import http_get, start_supervised

APP = """
async def app(scope, receive, send):
    if scope['type'] != 'http':
        return
    await send({'type': 'http.response.start', 'status': 200, 'headers': []})
    await send({'type': 'http.response.body', 'body': VERSION})
"""


async def test_edit_reloads_and_a_broken_edit_keeps_serving(tmp_path: Path) -> None:
    module = tmp_path / "dev_app.py"
    module.write_text("VERSION = b'v1'\n" + APP)
    server = await start_supervised(
        "--reload", "--lifespan", "off", "--graceful-timeout", "2", cwd=tmp_path, app="dev_app:app"
    )
    try:
        await server.wait_line(r"watching .* for changes")
        assert (await http_get(server.port, "/"))[2] == b"v1"
        mark = len(server.lines)
        module.write_text("VERSION = b'v2'\n" + APP)
        await server.wait_line(r"reload_finished generation=2 old_generation=1", after=mark)
        await server.wait_line(r"generation 1, pid \d+\) exited with code 0", after=mark)
        assert (await http_get(server.port, "/"))[2] == b"v2"
        mark = len(server.lines)
        module.write_text("VERSION = b'v3'\n" + APP + "\n)\n")  # a syntax error
        await server.wait_line(
            r"generation \d did NOT start .*; generation 2 keeps serving", after=mark
        )
        assert (await http_get(server.port, "/"))[2] == b"v2"
    finally:
        assert await server.stop() == 0
