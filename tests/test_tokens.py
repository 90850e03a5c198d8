"""tokens.py: the token store on disk (SPEC §7) and which token credentials a profile signs with."""

from __future__ import annotations

import os
import re
import stat
from pathlib import Path

import pytest
import yaml

from oauth1_proxy.config import Profile, parse_config
from oauth1_proxy.errors import TokenMissingError, TokenStoreError
from oauth1_proxy.signing import TokenCredentials
from oauth1_proxy.tokens import FileTokenStore, MemoryTokenStore, StoredToken, parse_token_store, token_for

TOKEN = StoredToken(
    token="tok-1",
    token_secret="ts-Very-Secret",
    obtained_at="2024-05-01T12:00:00Z",
    extra=(("screen_name", "alice"), ("user_id", "12345")),
)
OTHER = StoredToken(token="tok-2", token_secret="ts-2", obtained_at="2024-05-02T12:00:00Z")
LOGIN_URL = "http://oauth1.proxy/login/api"


def old_store(path: Path) -> bytes:
    """Write a store holding TOKEN for profile "old" with a first instance; return its bytes."""
    FileTokenStore(path).put("old", TOKEN)
    return path.read_bytes()


# --- FileTokenStore ----------------------------------------------------------------------------


def test_file_token_store_round_trips_token_and_extras(tmp_path: Path) -> None:
    path = tmp_path / "tokens.yaml"
    FileTokenStore(path).put("api", TOKEN)
    assert FileTokenStore(path).get("api") == TOKEN


def test_file_token_store_file_is_yaml_with_one_mapping_per_profile(tmp_path: Path) -> None:
    path = tmp_path / "tokens.yaml"
    FileTokenStore(path).put("api", TOKEN)
    assert yaml.safe_load(path.read_text(encoding="utf-8")) == {
        "api": {"token": "tok-1", "token_secret": "ts-Very-Secret", "obtained_at": "2024-05-01T12:00:00Z",
                "screen_name": "alice", "user_id": "12345"},
    }


def test_file_token_store_missing_file_is_empty(tmp_path: Path) -> None:
    store = FileTokenStore(tmp_path / "tokens.yaml")
    assert (store.get("api"), dict(store.all())) == (None, {})


def test_file_token_store_keeps_other_profiles_on_put(tmp_path: Path) -> None:
    path = tmp_path / "tokens.yaml"
    FileTokenStore(path).put("api", TOKEN)
    FileTokenStore(path).put("other", OTHER)
    assert dict(FileTokenStore(path).all()) == {"api": TOKEN, "other": OTHER}


def test_file_token_store_file_mode_is_0600(tmp_path: Path) -> None:
    path = tmp_path / "tokens.yaml"
    FileTokenStore(path).put("api", TOKEN)
    assert stat.S_IMODE(path.stat().st_mode) == 0o600


def test_file_token_store_creates_missing_folder(tmp_path: Path) -> None:
    path = tmp_path / "new" / "deeper" / "tokens.yaml"
    FileTokenStore(path).put("api", TOKEN)
    assert FileTokenStore(path).get("api") == TOKEN


def test_file_token_store_writes_a_temp_file_fsyncs_it_then_renames_it(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    path = tmp_path / "tokens.yaml"
    events: list[tuple[str, object]] = []
    real_replace, real_fsync = os.replace, os.fsync

    def replace(src: str, dst: str | Path) -> None:
        events.append(("replace", (Path(src), Path(dst))))
        real_replace(src, dst)

    def fsync(fd: int) -> None:
        events.append(("fsync", fd))
        real_fsync(fd)

    monkeypatch.setattr(os, "replace", replace)
    monkeypatch.setattr(os, "fsync", fsync)
    FileTokenStore(path).put("api", TOKEN)

    kinds = [kind for kind, _ in events]
    assert kinds.index("fsync") < kinds.index("replace")
    src, dst = dict(events)["replace"]  # type: ignore[misc]
    assert (src.parent, dst) == (path.parent, path)
    assert src != path and not src.exists()


@pytest.mark.parametrize("failing", ["replace", "fsync"], ids=["rename-fails", "fsync-fails"])
def test_file_token_store_failed_write_leaves_old_store_and_no_temp_file(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, failing: str
) -> None:
    path = tmp_path / "tokens.yaml"
    before = old_store(path)

    def fail(*args: object) -> None:
        raise OSError(5, "Input/output error")

    monkeypatch.setattr(os, failing, fail)
    with pytest.raises(TokenStoreError, match=re.escape(
            f"{path}: the token store cannot be written (Input/output error); the old store is unchanged.")):
        FileTokenStore(path).put("new", OTHER)
    assert path.read_bytes() == before
    # The lock file stays (removing it would race another writer waiting on it); no temp file does.
    assert sorted(p.name for p in tmp_path.iterdir()) == ["tokens.yaml", "tokens.yaml.lock"]


@pytest.mark.parametrize(
    "content",
    [b"api: [unclosed\n", b"- just\n- a list\n", b"api:\n  token: only-a-token\n",
     b"api:\n  token: 1\n  token_secret: 2\n"],
    ids=["not-yaml", "not-a-mapping", "no-secret", "not-strings"],
)
def test_file_token_store_corrupt_store_raises_and_put_leaves_it_byte_for_byte(
    tmp_path: Path, content: bytes
) -> None:
    path = tmp_path / "tokens.yaml"
    path.write_bytes(content)
    store = FileTokenStore(path)
    with pytest.raises(TokenStoreError, match=re.escape(f"{path}: ") + ".*left untouched"):
        store.put("api", TOKEN)
    assert path.read_bytes() == content


def test_file_token_store_corrupt_store_get_names_file_and_fix(tmp_path: Path) -> None:
    path = tmp_path / "tokens.yaml"
    path.write_bytes(b"api: [unclosed\n")
    with pytest.raises(TokenStoreError, match=re.escape(
            f"{path}: the token store is not valid YAML; it was left untouched. Fix or move it, then log in "
            "again.")):
        FileTokenStore(path).get("api")


def test_file_token_store_corrupt_store_delete_leaves_it_byte_for_byte(tmp_path: Path) -> None:
    path = tmp_path / "tokens.yaml"
    path.write_bytes(b"api: [unclosed\n")
    with pytest.raises(TokenStoreError):
        FileTokenStore(path).delete("api")
    assert path.read_bytes() == b"api: [unclosed\n"


def test_file_token_store_sees_a_token_written_by_another_instance(tmp_path: Path) -> None:
    # A running proxy must pick up a token stored by `oauth1-proxy login`.
    path = tmp_path / "tokens.yaml"
    proxy_side = FileTokenStore(path)
    assert proxy_side.get("api") is None
    FileTokenStore(path).put("api", TOKEN)
    assert proxy_side.get("api") == TOKEN


def test_file_token_store_sees_a_token_replaced_by_another_instance(tmp_path: Path) -> None:
    path = tmp_path / "tokens.yaml"
    proxy_side = FileTokenStore(path)
    proxy_side.put("api", TOKEN)
    FileTokenStore(path).put("api", OTHER)
    assert proxy_side.get("api") == OTHER


def test_file_token_store_put_keeps_a_token_another_instance_wrote_meanwhile(tmp_path: Path) -> None:
    path = tmp_path / "tokens.yaml"
    first, second = FileTokenStore(path), FileTokenStore(path)
    first.put("api", TOKEN)
    second.put("other", OTHER)
    first.put("third", OTHER)
    assert set(FileTokenStore(path).all()) == {"api", "other", "third"}


def test_file_token_store_delete_removes_only_that_profile(tmp_path: Path) -> None:
    path = tmp_path / "tokens.yaml"
    store = FileTokenStore(path)
    store.put("api", TOKEN)
    store.put("other", OTHER)
    store.delete("api")
    assert dict(FileTokenStore(path).all()) == {"other": OTHER}


def test_file_token_store_delete_unknown_profile_does_not_rewrite(tmp_path: Path) -> None:
    path = tmp_path / "tokens.yaml"
    before = old_store(path)
    inode = path.stat().st_ino
    FileTokenStore(path).delete("nobody")
    assert (path.read_bytes(), path.stat().st_ino) == (before, inode)


def test_file_token_store_under_a_regular_file_raises_naming_the_path(tmp_path: Path) -> None:
    # Tests run as root, for whom chmod blocks nothing: a path under a file does.
    (tmp_path / "afile").write_text("not a folder")
    path = tmp_path / "afile" / "tokens.yaml"
    with pytest.raises(TokenStoreError, match=re.escape(f"{path}: the token store cannot be")):
        FileTokenStore(path).put("api", TOKEN)


def test_file_token_store_unwritable_folder_says_make_it_writable(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    path = tmp_path / "tokens.yaml"

    def mkstemp(*args: object, **kwargs: object) -> tuple[int, str]:
        raise PermissionError(13, "Permission denied")

    monkeypatch.setattr("oauth1_proxy.tokens.tempfile.mkstemp", mkstemp)
    with pytest.raises(TokenStoreError, match=re.escape(
            f"{path}: the token store cannot be written (Permission denied); make {tmp_path} writable or set "
            "token_store in the config to a writable place.")):
        FileTokenStore(path).put("api", TOKEN)


def test_stored_token_repr_hides_the_token_secret() -> None:
    assert "ts-Very-Secret" not in repr(TOKEN)


def test_memory_token_store_put_get_delete() -> None:
    store = MemoryTokenStore()
    store.put("api", TOKEN)
    assert store.get("api") == TOKEN
    store.delete("api")
    assert store.get("api") is None


# --- token_for ---------------------------------------------------------------------------------


def make_profile(**keys: object) -> Profile:
    body = {"hosts": ["api.example.com"], "consumer_key": "ck", "consumer_secret": "cs", **keys}
    return parse_config({"profiles": {"api": body}}, "test.yaml", env={}).profiles[0]


DANCE = {
    "request_token_url": "https://api.example.com/oauth/request_token",
    "authorize_url": "https://api.example.com/oauth/authorize",
    "access_token_url": "https://api.example.com/oauth/access_token",
}


def test_token_for_static_token_wins_over_the_store() -> None:
    profile = make_profile(token="static", token_secret="static-secret", **DANCE)
    store = MemoryTokenStore({"api": TOKEN})
    expected = TokenCredentials(token="static", secret="static-secret")
    assert token_for(profile, store, login_url=LOGIN_URL) == expected


def test_token_for_static_token_with_empty_secret_signs_with_empty_secret() -> None:
    profile = make_profile(token="static", token_secret="")
    assert token_for(profile, None, login_url=LOGIN_URL) == TokenCredentials(token="static", secret="")


def test_token_for_uses_the_store_without_a_static_token() -> None:
    profile = make_profile(**DANCE)
    store = MemoryTokenStore({"api": TOKEN})
    expected = TokenCredentials(token="tok-1", secret="ts-Very-Secret")
    assert token_for(profile, store, login_url=LOGIN_URL) == expected


def test_token_for_dance_without_token_raises_with_login_url() -> None:
    profile = make_profile(**DANCE)
    with pytest.raises(TokenMissingError, match=re.escape(
            f'Profile "api" is not logged in yet. Open {LOGIN_URL} to connect it, or run: x.')) as info:
        token_for(profile, MemoryTokenStore(), login_url=LOGIN_URL, login_hint=", or run: x")
    assert (info.value.profile, info.value.login_url, info.value.status_hint) == ("api", LOGIN_URL, 401)


def test_token_for_dance_without_a_store_raises_token_missing() -> None:
    with pytest.raises(TokenMissingError, match="is not logged in yet"):
        token_for(make_profile(**DANCE), None, login_url=LOGIN_URL)


def test_token_for_consumer_only_profile_is_none() -> None:
    assert token_for(make_profile(), MemoryTokenStore(), login_url=LOGIN_URL) is None


def test_token_for_consumer_only_profile_ignores_a_leftover_stored_token() -> None:
    # A token stored while the profile had dance URLs is not used once they are gone: it signs two-legged.
    store = MemoryTokenStore()
    store.put("api", TOKEN)
    assert token_for(make_profile(), store, login_url=LOGIN_URL) is None


def test_token_for_consumer_only_profile_never_reads_the_store() -> None:
    class Unreadable(MemoryTokenStore):
        def get(self, profile: str) -> StoredToken | None:
            raise AssertionError("the store was read")

    assert token_for(make_profile(), Unreadable(), login_url=LOGIN_URL) is None


def test_token_for_reads_a_file_store(tmp_path: Path) -> None:
    path = tmp_path / "tokens.yaml"
    FileTokenStore(path).put("api", TOKEN)
    token = token_for(make_profile(**DANCE), FileTokenStore(path), login_url=LOGIN_URL)
    assert token == TOKEN.credentials


# --- issue 12: writers lock, symlinks are written through, only regular files, no YAML aliases ------------

CONCURRENT_WRITER = """
import sys, time
from pathlib import Path
from oauth1_proxy.tokens import FileTokenStore, StoredToken

path, me, start = Path(sys.argv[1]), sys.argv[2], float(sys.argv[3])
while time.time() < start:  # all writers start together
    pass
for i in range(5):
    FileTokenStore(path).put(f"{me}-{i}", StoredToken(token=f"tok-{me}-{i}", token_secret=f"secret-{me}-{i}"))
print("token stored")
"""


def test_file_token_store_concurrent_puts_from_8_processes_lose_no_token(tmp_path: Path) -> None:
    # Processes, not threads: each one has its own FileTokenStore, as two `oauth1-proxy login` runs do.
    import subprocess
    import sys
    import time

    path = tmp_path / "tokens.yaml"
    script = tmp_path / "writer.py"
    script.write_text(CONCURRENT_WRITER)
    start = time.time() + 1.5
    writers = [subprocess.Popen([sys.executable, str(script), str(path), f"w{n}", str(start)],
                                stdout=subprocess.PIPE, text=True) for n in range(8)]
    outputs = [w.communicate(timeout=60)[0] for w in writers]
    assert all(o == "token stored\n" for o in outputs)
    assert sorted(FileTokenStore(path).all()) == sorted(f"w{n}-{i}" for n in range(8) for i in range(5))


def test_file_token_store_lock_file_is_beside_the_store_and_private(tmp_path: Path) -> None:
    FileTokenStore(tmp_path / "tokens.yaml").put("api", TOKEN)
    assert stat.S_IMODE((tmp_path / "tokens.yaml.lock").stat().st_mode) == 0o600


def test_file_token_store_put_waits_for_another_writers_lock(tmp_path: Path) -> None:
    import fcntl
    import threading
    import time

    path = tmp_path / "tokens.yaml"
    FileTokenStore(path).put("old", TOKEN)
    fd = os.open(tmp_path / "tokens.yaml.lock", os.O_RDWR)
    fcntl.flock(fd, fcntl.LOCK_EX)  # another writer holds the lock (flock locks are per open file)
    done = threading.Event()
    threading.Thread(target=lambda: (FileTokenStore(path).put("new", OTHER), done.set()), daemon=True).start()
    time.sleep(0.3)
    assert not done.is_set() and "new" not in FileTokenStore(path).all()
    os.close(fd)
    assert done.wait(5)
    assert sorted(FileTokenStore(path).all()) == ["new", "old"]


def symlinked_store(tmp_path: Path) -> tuple[Path, Path]:
    target = tmp_path / "real" / "tokens.yaml"
    target.parent.mkdir()
    link = tmp_path / "tokens.yaml"
    link.symlink_to(target)
    FileTokenStore(link).put("api", TOKEN)
    return link, target


def test_file_token_store_put_through_a_symlink_writes_the_target_and_keeps_the_link(tmp_path: Path) -> None:
    link, target = symlinked_store(tmp_path)
    assert link.is_symlink() and Path(os.readlink(link)) == target
    assert FileTokenStore(target).get("api") == TOKEN
    assert stat.S_IMODE(target.stat().st_mode) == 0o600
    assert [p.name for p in link.parent.iterdir() if p.name.endswith(".tmp")] == []


def test_file_token_store_logout_through_a_symlink_removes_the_secret_from_the_target(tmp_path: Path) -> None:
    link, target = symlinked_store(tmp_path)
    FileTokenStore(link).delete("api")
    assert link.is_symlink() and Path(os.readlink(link)) == target
    assert TOKEN.token_secret not in target.read_text()
    assert FileTokenStore(link).get("api") is None


def within(seconds: float, call: object) -> object:
    """Run call() in a thread; fail (instead of hanging) if it has not returned in time."""
    import threading

    result: list[object] = []

    def run() -> None:
        try:
            result.append(call())  # type: ignore[operator]
        except BaseException as e:  # noqa: BLE001 - handed back to the test
            result.append(e)

    t = threading.Thread(target=run, daemon=True)
    t.start()
    t.join(seconds)
    assert not t.is_alive(), f"still waiting after {seconds} s"
    return result[0]


@pytest.mark.parametrize("method", ["get", "all", "put", "refresh+cached"])
def test_file_token_store_fifo_is_refused_without_waiting_for_a_writer(tmp_path: Path, method: str) -> None:
    path = tmp_path / "tokens.yaml"
    os.mkfifo(path)
    store = FileTokenStore(path)
    calls = {
        "get": lambda: store.get("api"),
        "all": lambda: store.all(),
        "put": lambda: store.put("api", TOKEN),
        "refresh+cached": lambda: (store.refresh(), store.cached("api")),
    }
    error = within(5, calls[method])
    assert isinstance(error, TokenStoreError)
    assert str(error).startswith(f"{path}: the token store cannot be read: it is a named pipe (FIFO), not a regular "
                                 "file; it was left untouched. Point token_store in the config at a regular file")
    assert stat.S_ISFIFO(os.stat(path).st_mode)  # never replaced


def test_file_token_store_folder_is_refused_naming_it(tmp_path: Path) -> None:
    (tmp_path / "tokens.yaml").mkdir()
    with pytest.raises(TokenStoreError, match="it is a folder, not a regular file"):
        FileTokenStore(tmp_path / "tokens.yaml").get("api")


ALIASED_STORES = {
    "recursive": "api: &a\n  token: t\n  token_secret: s\n  loop: *a\n",
    "billion-laughs": "a: &a [x,x,x,x,x,x,x,x,x]\n" + "".join(
        f"{chr(98 + i)}: &{chr(98 + i)} [" + ",".join([f"*{chr(97 + i)}"] * 9) + "]\n" for i in range(8)),
    "unknown-alias": "api:\n  token: t\n  token_secret: *ts-Very-Secret\n",
    "anchor": "api:\n  token: t\n  token_secret: &ts-Very-Secret x\n",
}


@pytest.mark.parametrize("text", list(ALIASED_STORES.values()), ids=list(ALIASED_STORES))
def test_parse_token_store_anchors_and_aliases_are_refused_naming_file_and_line(text: str) -> None:
    with pytest.raises(TokenStoreError, match=re.escape(
            "tokens.yaml: the token store is not valid YAML; it was left untouched.")) as info:
        parse_token_store(text, "tokens.yaml")
    message = str(info.value)
    assert re.search(r"\(tokens\.yaml:\d+: \w+: this is not valid YAML \(YAML anchors and aliases", message)
    assert "Very-Secret" not in message
    assert len(message) < 600  # the billion laughs were not expanded into it


def test_parse_token_store_syntax_error_quotes_nothing_from_the_line() -> None:
    with pytest.raises(TokenStoreError) as info:
        parse_token_store('api:\n  token: t\n  token_secret: "ab\\qVery-Secret"\n', "tokens.yaml")
    assert "tokens.yaml:3: token_secret:" in str(info.value)
    assert "Very-Secret" not in str(info.value) and "\\q" not in str(info.value)


def test_parse_token_store_deep_nesting_is_an_error_not_a_recursion_traceback() -> None:
    with pytest.raises(TokenStoreError, match="nested too deeply"):
        parse_token_store("[" * 20000, "tokens.yaml")


def test_file_token_store_watcher_thread_ends_when_the_store_is_dropped(tmp_path: Path) -> None:
    import gc
    import threading
    import time

    store = FileTokenStore(tmp_path / "tokens.yaml")
    store.watch(interval=0.01)
    name = f"oauth1-proxy token store watcher {tmp_path / 'tokens.yaml'}"
    assert any(t.name == name for t in threading.enumerate())
    del store
    gc.collect()
    deadline = time.monotonic() + 2
    while any(t.name == name for t in threading.enumerate()) and time.monotonic() < deadline:
        time.sleep(0.01)
    assert not any(t.name == name for t in threading.enumerate())


def test_file_token_store_cached_sees_a_put_by_another_store_after_refresh_only(tmp_path: Path) -> None:
    path = tmp_path / "tokens.yaml"
    store = FileTokenStore(path)
    store.refresh()
    FileTokenStore(path).put("api", TOKEN)
    assert store.cached("api") is None  # the snapshot: no disk read
    store.refresh()
    assert store.cached("api") == TOKEN
