"""shell/flow_input.py: the remembered Host parse gives mitmproxy's own answer, every time (issue 17)."""

from __future__ import annotations

import pytest
from hypothesis import example, given
from hypothesis import strategies as st
from mitmproxy.net.http import url

from oauth1_proxy.shell.flow_input import _parse_authority

AUTHORITY = st.one_of(
    st.text(alphabet="abcXYZ019.-:[]_@ %", max_size=30),
    st.builds(lambda h, p: f"{h}:{p}", st.sampled_from(["api.example.com", "API.Example.COM.", "127.0.0.1", "[::1]"]),
              st.integers(min_value=0, max_value=70000)),
)


def _plain(authority: str) -> tuple[str, int | None] | type[ValueError]:
    try:
        return url.parse_authority(authority, check=True)
    except ValueError:
        return ValueError


@given(AUTHORITY)
@example("api.example.com")
@example("api.example.com:443")
@example("bad host:1")
@example("[::1]:8080")
def test_parse_authority_remembered_gives_mitmproxys_answer_twice(authority: str) -> None:
    expected = _plain(authority)
    for _ in range(2):  # the second call comes from the cache
        if expected is ValueError:
            with pytest.raises(ValueError):
                _parse_authority(authority)
        else:
            assert _parse_authority(authority) == expected


def test_parse_authority_keeps_no_malformed_value_and_is_bounded() -> None:
    _parse_authority.cache_clear()
    with pytest.raises(ValueError):
        _parse_authority("bad host:1")
    assert _parse_authority.cache_info().currsize == 0
    for i in range(1100):
        _parse_authority(f"h{i}.example.com:443")
    assert _parse_authority.cache_info().currsize == 1024
