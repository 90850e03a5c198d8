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


def test_nonces_are_128_bit_hex_each_from_fresh_csprng_bytes_and_never_repeat() -> None:
    from unittest import mock

    from oauth1_proxy.shell import flow_input

    source = flow_input._NonceSource()
    with mock.patch.object(flow_input.secrets, "token_bytes", wraps=flow_input.secrets.token_bytes) as drawn:
        nonces = [source() for _ in range(600)]
    assert all(len(n) == 32 and int(n, 16) >= 0 for n in nonces)
    assert len(set(nonces)) == 600
    assert drawn.call_count == 3 and all(c.args == (4096,) for c in drawn.call_args_list)  # 256 nonces per read
    pool = b"".join(bytes.fromhex(n) for n in nonces[:256])
    assert len(pool) == 4096  # the whole read, 16 bytes per nonce, none reused


def test_forked_child_never_takes_the_parents_next_nonce() -> None:
    import os

    from oauth1_proxy.shell.flow_input import make_nonce

    make_nonce()  # the pool holds bytes now
    read, write = os.pipe()
    pid = os.fork()
    if pid == 0:  # the child: its first nonce, then out at once
        os.write(write, make_nonce().encode())
        os._exit(0)
    os.close(write)
    child = os.read(read, 64).decode()
    os.waitpid(pid, 0)
    os.close(read)
    assert len(child) == 32 and child != make_nonce()  # without the at-fork reset both would be the same
