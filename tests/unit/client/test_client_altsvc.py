"""``Alt-Svc`` parsing and the alternatives table (RFC 7838 §3, RFC 9114 §3.1.1): pure, no I/O."""

from __future__ import annotations

from lastcall.client.altsvc import (
    BROKEN_ALTERNATIVE_PERIOD,
    CLEAR,
    DEFAULT_MAX_AGE,
    AltSvcTable,
    H3Alternative,
    parse_h3_alternative,
)

ORIGIN = ("https", "example.org", 443)


def test_parses_the_usual_forms() -> None:
    assert parse_h3_alternative(['h3=":443"; ma=3600'], "example.org", 10.0) == H3Alternative(
        443, 3610.0
    )
    assert parse_h3_alternative(['h3=":8443"'], "example.org", 0.0) == H3Alternative(
        8443, DEFAULT_MAX_AGE
    )
    # Other protocols first, quoted ma, persist, several header lines.
    value = 'h2=":443", h3-29=":443"; ma=10, h3=":4433"; ma="60"; persist=1'
    assert parse_h3_alternative(["x", value], "example.org", 0.0) == H3Alternative(4433, 60.0)
    assert parse_h3_alternative([" clear "], "example.org", 0.0) == CLEAR


def test_skips_other_hosts_and_garbage() -> None:
    assert parse_h3_alternative(['h3="other.example:443"'], "example.org", 0.0) is None
    found = parse_h3_alternative(['h3="EXAMPLE.org:444"'], "example.org", 0.0)
    assert found == H3Alternative(444, DEFAULT_MAX_AGE)
    for junk in ["h3=:443", 'h3=":0"', 'h3=":99999"', "h3", "", ",,,", 'h3=":443"; ma=x']:
        result = parse_h3_alternative([junk], "example.org", 0.0)
        assert result is None or result == H3Alternative(443, DEFAULT_MAX_AGE), junk


def test_table_expiry_broken_and_clear() -> None:
    table = AltSvcTable()
    table.note(("http", "example.org", 80), ['h3=":443"'], 0.0)  # never from cleartext
    assert table.h3_port(("http", "example.org", 80), 0.0) is None
    table.note(ORIGIN, ['h3=":8443"; ma=100'], 0.0)
    assert table.h3_port(ORIGIN, 50.0) == 8443
    table.mark_broken(ORIGIN, 50.0)
    assert table.h3_port(ORIGIN, 51.0) is None
    table.note(ORIGIN, ['h3=":8443"; ma=1000'], 60.0)
    assert table.h3_port(ORIGIN, 50.0 + BROKEN_ALTERNATIVE_PERIOD) == 8443
    assert table.h3_port(ORIGIN, 1061.0) is None  # ma ran out
    table.note(ORIGIN, ['h3=":8443"'], 0.0)
    table.note(ORIGIN, ["clear"], 1.0)
    assert table.h3_port(ORIGIN, 2.0) is None
