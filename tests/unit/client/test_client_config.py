"""Client settings: defaults, ranges, environment, jitter."""

from __future__ import annotations

import pytest

from lastcall.client.config import ClientConfig, Lifetime, Limits, Timeouts, jittered
from lastcall.client.models import URL, Headers, Request
from lastcall.errors import ConfigError, LocalProtocolError


def test_defaults_are_documented_values(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("LASTCALL_CLIENT_DRAIN", raising=False)
    config = ClientConfig()
    assert config.timeouts == Timeouts(5.0, 5.0, 5.0, 5.0)
    assert config.drain_timeout == 1.0
    assert config.lifetime.jitter == 0.1
    assert config.http1 and not config.http2


def test_bad_values_are_config_errors(monkeypatch: pytest.MonkeyPatch) -> None:
    with pytest.raises(ConfigError):
        Timeouts(connect=-1)
    with pytest.raises(ConfigError):
        Limits(max_connections=0)
    with pytest.raises(ConfigError):
        Lifetime(jitter=1.5)
    with pytest.raises(ConfigError):
        ClientConfig(http1=False, http2=False)
    monkeypatch.setenv("LASTCALL_CLIENT_DRAIN", "soon")
    with pytest.raises(ConfigError, match="LASTCALL_CLIENT_DRAIN"):
        ClientConfig()


def test_jitter_stays_within_ten_percent() -> None:
    assert jittered(100.0, 0.1, 0.0) == pytest.approx(90.0)
    assert jittered(100.0, 0.1, 0.5) == pytest.approx(100.0)
    assert jittered(100.0, 0.1, 0.999999) == pytest.approx(110.0, rel=1e-5)


def test_url_and_headers() -> None:
    url = URL("http://Example.org:8080/a/b?x=1")
    assert url.origin == ("http", "example.org", 8080)
    assert url.authority == b"example.org:8080" and url.target == b"/a/b?x=1"
    assert URL("https://h").authority == b"h" and URL("https://h").target == b"/"
    with pytest.raises(LocalProtocolError):
        URL("ftp://h/")
    for base in ("http://Example.org:8080", "https://[::1]", "http://h:80"):
        moved = URL.with_target(URL(base + "/"), b"//x/y?q=%20")
        parsed = URL.with_target(base, b"//x/y?q=%20")  # the origin split again
        assert (moved.origin, moved.authority) == (parsed.origin, parsed.authority)
        assert moved.target == parsed.target == b"//x/y?q=%20"
    headers = Headers({"X-A": "1"})
    headers["x-b"] = "2"
    assert headers["x-a"] == "1" and "X-B" in headers and list(headers) == ["x-a", "x-b"]


def test_request_replayability() -> None:
    assert Request("POST", "http://h/", content=b"x").is_replayable
    assert Request("POST", "http://h/", stream=[b"a", b"b"]).is_replayable
    one_shot = Request("POST", "http://h/", stream=iter([b"a"]))
    assert one_shot.is_replayable  # nothing taken yet
    one_shot._stream_started = True
    assert not one_shot.is_replayable
    assert (
        Request("PUT", "http://h/").is_idempotent and not Request("POST", "http://h/").is_idempotent
    )
