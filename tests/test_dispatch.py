"""SparseDispatch (issue 5, made safe to own in issue 13): mitmproxy's own AddonManager is the oracle throughout."""

from __future__ import annotations

import ast
import logging
import sys
from pathlib import Path
from typing import Any

import pytest
from mitmproxy import exceptions, hooks, http
from mitmproxy.addonmanager import AddonManager
from mitmproxy.proxy.layers.http import HttpRequestHook, HttpResponseHook

import oauth1_proxy.shell.dispatch as dispatch_module
from oauth1_proxy.shell.dispatch import (
    Chain,
    SparseDispatch,
    instance_problems,
    manager_problems,
    use_sparse_dispatch,
)
from tests.test_mitmproxy_addon import STATIC, make_flow, running_mitmdump


def mitmproxy_calls(manager: Any, event_name: str) -> list[Any]:
    """What mitmproxy's own trigger_event would call for an event, in order: its _iter_hooks over the chain."""
    from mitmproxy.addonmanager import AddonManager

    event = hooks.all_hooks[event_name].__new__(hooks.all_hooks[event_name])  # _iter_hooks reads only .name
    return [func for addon in manager.chain for _, func in AddonManager._iter_hooks(manager, addon, event)]


def sparse_calls(manager: SparseDispatch, event_name: str) -> list[Any]:
    """What SparseDispatch will call for the same event: its plan, with children expanded as invoke_addon does."""
    event = hooks.all_hooks[event_name].__new__(hooks.all_hooks[event_name])
    out: list[Any] = []
    for addon, direct in manager.plan(event_name):
        out += [getattr(addon, event_name)] if direct else [f for _, f in manager._iter_hooks(addon, event)]
    return out


class Recorder:
    """An addon that writes down each call it gets."""

    def __init__(self, name: str, calls: list[str]) -> None:
        self.name, self.calls = name, calls

    def request(self, flow: http.HTTPFlow) -> None:
        self.calls.append(f"{self.name}.request")

    async def response(self, flow: http.HTTPFlow) -> None:
        self.calls.append(f"{self.name}.response")


class Group:
    """An addon with children, as a user's script may have; the children can change at any time."""

    def __init__(self, *children: object) -> None:
        self.addons = list(children)


class HasModuleNamedLikeAHook:
    import logging as error  # noqa: F401  # mitmproxy skips a module named like a hook


async def test_sparse_dispatch_calls_exactly_what_mitmproxys_loop_calls_for_every_hook(tmp_path: Path) -> None:
    # `oauth1-proxy run` uses SparseDispatch (issue 5). The oracle is mitmproxy's own _iter_hooks over the chain.
    other = tmp_path / "other_addon.py"
    other.write_text("def request(flow):\n    pass\n\ndef responseheaders(flow):\n    pass\n")
    async with running_mitmdump(
        tmp_path, STATIC, sparse=True, save_stream_file=str(tmp_path / "capture"), scripts=[str(other)]
    ) as (master, signer):
        manager = master.addons
        assert isinstance(manager, SparseDispatch)
        manager.add(Group(Recorder("child", [])), HasModuleNamedLikeAHook())
        names = sorted(hooks.all_hooks)
        assert {"request", "response", "requestheaders", "update", "client_connected", "error"} <= set(names)
        for name in names:
            assert sparse_calls(manager, name) == mitmproxy_calls(manager, name), name
        # The walk is saved: an event calls the addons with a hook for it, not the whole chain.
        assert len(manager.plan("request")) < len(manager.chain) // 2
        assert len(manager.plan("update")) < len(manager.chain) // 4
        assert any(addon is signer for addon, _ in manager.plan("request"))
        assert not any(addon is signer for addon, _ in manager.plan("update"))


async def chain_changes(tmp_path: Path, *, sparse: bool) -> list[list[str]]:
    """The calls a request event makes while addons are added, removed, and added by a hook, one list per event."""
    async with running_mitmdump(tmp_path, STATIC, sparse=sparse) as (master, _):
        manager = master.addons
        calls: list[str] = []
        seen: list[list[str]] = []
        flow = make_flow(url="https://other.example.net/")

        async def request_event() -> None:
            calls.clear()
            await manager.trigger_event(HttpRequestHook(flow))
            seen.append(list(calls))

        group = Group()
        manager.add(group)
        await request_event()
        first = Recorder("first", calls)
        manager.add(first)  # appended to the same list
        group.addons.append(Recorder("child", calls))  # the manager is not told
        await request_event()
        manager.remove(first)  # a new list
        await request_event()
        late = Recorder("late", calls)

        class Adds:
            def request(self, flow: http.HTTPFlow) -> None:
                calls.append("adds.request")
                if late not in manager.chain:
                    manager.add(late)  # during the event

        manager.add(Adds())
        await request_event()
        await request_event()
        return seen


async def test_sparse_dispatch_sees_addons_added_removed_and_children_changed_as_mitmproxy_does(
    tmp_path: Path,
) -> None:
    ours = await chain_changes(tmp_path, sparse=True)
    assert ours == await chain_changes(tmp_path, sparse=False)  # mitmproxy's own AddonManager is the oracle
    assert ours == [
        [],
        ["child.request", "first.request"],
        ["child.request"],
        ["child.request", "adds.request", "late.request"],
        ["child.request", "adds.request", "late.request"],
    ]


async def errors_halts_and_replacements(tmp_path: Path, *, sparse: bool) -> tuple[list[list[str]], list[str]]:
    """The calls of three events around a hook that raises, one that halts and one replaced; the errors logged."""
    async with running_mitmdump(tmp_path, STATIC, sparse=sparse) as (master, _):
        manager = master.addons
        calls: list[str] = []
        seen: list[list[str]] = []
        errors: list[str] = []

        class Errors(logging.Handler):
            def emit(self, record: logging.LogRecord) -> None:
                if record.exc_info:
                    errors.append(record.getMessage())

        class Fails:
            def request(self, flow: http.HTTPFlow) -> None:
                calls.append("fails.request")
                raise ValueError("boom")

        class Halts:
            def response(self, flow: http.HTTPFlow) -> None:
                calls.append("halts.response")
                raise exceptions.AddonHalt

        before, after = Recorder("before", calls), Recorder("after", calls)
        manager.add(before, Fails(), Halts(), after)
        flow = make_flow(url="https://other.example.net/")
        handler = Errors(logging.ERROR)
        logging.getLogger("mitmproxy.addonmanager").addHandler(handler)
        try:
            await manager.trigger_event(HttpRequestHook(flow))
            seen.append(list(calls))
            calls.clear()
            flow.response = http.Response.make(200)
            await manager.trigger_event(HttpResponseHook(flow))  # Recorder.response is async
            seen.append(list(calls))
            calls.clear()
            before.request = lambda flow: calls.append("replaced")  # type: ignore[method-assign]
            await manager.trigger_event(HttpRequestHook(flow))
            seen.append(list(calls))
        finally:
            logging.getLogger("mitmproxy.addonmanager").removeHandler(handler)
        return seen, errors


async def test_sparse_dispatch_keeps_mitmproxys_error_halt_and_async_handling(tmp_path: Path) -> None:
    ours = await errors_halts_and_replacements(tmp_path, sparse=True)
    assert ours == await errors_halts_and_replacements(tmp_path, sparse=False)  # mitmproxy's manager, the oracle
    calls, errors = ours
    assert calls == [
        ["before.request", "fails.request", "after.request"],  # logged, and the next addon still runs
        ["before.response", "halts.response"],  # awaited; AddonHalt stops the event
        ["replaced", "fails.request", "after.request"],  # a hook replaced on the instance is the one called
    ]
    assert errors == ["Addon error: boom", "Addon error: boom"]


async def test_sparse_dispatch_passes_options_to_configure_once_and_signs(tmp_path: Path) -> None:
    async with running_mitmdump(tmp_path, STATIC, sparse=True) as (master, _):
        manager = master.addons

        # Options reach each addon's configure once: the replaced manager no longer listens.
        class Probe:
            seen = 0

            def configure(self, updated: set[str]) -> None:
                Probe.seen += "flow_detail" in updated

        manager.add(Probe())
        Probe.seen = 0
        master.options.update(flow_detail=3)
        assert Probe.seen == 1
        # Dispatch goes through the plans: our request hook signs.
        flow = make_flow(url="https://api.example.com/v1/items")
        await manager.handle_lifecycle(HttpRequestHook(flow))
        assert flow.request.headers["authorization"].startswith("OAuth ")




# --- in-place chain edits that keep the length (issue 13: the plan cached on identity and length) ---------------


async def in_place_edits(tmp_path: Path, *, sparse: bool) -> list[list[str]]:
    """The calls a request event makes after each edit that keeps the chain's list and its length."""
    async with running_mitmdump(tmp_path, STATIC, sparse=sparse) as (master, _):
        manager = master.addons
        calls: list[str] = []
        seen: list[list[str]] = []
        flow = make_flow(url="https://other.example.net/")

        async def request_event() -> None:
            calls.clear()
            await manager.trigger_event(HttpRequestHook(flow))
            seen.append(list(calls))

        a, b, c = Recorder("a", calls), Recorder("b", calls), Recorder("c", calls)
        manager.add(a, b)
        chain = manager.chain
        await request_event()
        chain[chain.index(a)] = c  # replaced in place: same list, same length
        await request_event()
        i, j = chain.index(c), chain.index(b)
        chain[i], chain[j] = chain[j], chain[i]  # swapped
        await request_event()
        chain.remove(b)
        chain.append(a)  # one out, one in
        await request_event()
        chain[:] = [x for x in chain if x is not c] + [b]  # a slice assignment of the same length
        await request_event()
        chain.reverse()
        await request_event()
        assert manager.chain is chain  # every edit above kept the list
        return seen


async def test_sparse_dispatch_in_place_chain_edits_that_keep_the_length_are_seen_as_mitmproxy_sees_them(
    tmp_path: Path,
) -> None:
    ours = await in_place_edits(tmp_path, sparse=True)
    assert ours == await in_place_edits(tmp_path, sparse=False)  # mitmproxy's own AddonManager is the oracle
    assert ours == [
        ["a.request", "b.request"],
        ["c.request", "b.request"],
        ["b.request", "c.request"],
        ["c.request", "a.request"],
        ["a.request", "b.request"],
        ["b.request", "a.request"],
    ]


@pytest.mark.parametrize(
    ("name", "edit"),
    [
        ("setitem", lambda c: c.__setitem__(0, "x")),
        ("setitem-slice", lambda c: c.__setitem__(slice(0, 1), ["x"])),
        ("delitem", lambda c: c.__delitem__(0)),
        ("iadd", lambda c: c.__iadd__(["x"])),
        ("imul", lambda c: c.__imul__(1)),
        ("append", lambda c: c.append("x")),
        ("extend", lambda c: c.extend(["x"])),
        ("insert", lambda c: c.insert(0, "x")),
        ("pop", lambda c: c.pop()),
        ("remove", lambda c: c.remove("a")),
        ("clear", lambda c: c.clear()),
        ("sort", lambda c: c.sort()),
        ("reverse", lambda c: c.reverse()),
    ],
)
def test_chain_every_list_edit_bumps_the_version(name: str, edit: Any) -> None:
    chain = Chain(["b", "a"])
    before = chain.version
    edit(chain)
    assert chain.version == before + 1, name


def test_sparse_dispatch_holds_an_assigned_list_as_a_chain() -> None:
    manager = object.__new__(SparseDispatch)
    manager.chain = ["a"]  # type: ignore[assignment]  # as mitmproxy's remove() and clear() assign
    assert type(manager.chain) is Chain and manager.chain == ["a"]


# --- at start: the AddonManager it was written against, or mitmproxy's own (issue 13) ---------------------------


def without(name: str) -> type:
    """mitmproxy's AddonManager, copied without one of its methods."""
    members = {k: v for k, v in vars(AddonManager).items() if k not in (name, "__dict__", "__weakref__")}
    return type("AddonManager", (), members)


def test_manager_problems_of_mitmproxys_addon_manager_are_none() -> None:
    assert manager_problems(AddonManager) == []


@pytest.mark.parametrize("name", sorted(dispatch_module.EXPECTED_METHODS))
def test_manager_problems_of_a_manager_lacking_a_method_name_it(name: str) -> None:
    problems = manager_problems(without(name))
    # (Without its own __init__ the class has object's, which takes other parameters.)
    assert len(problems) == 1 and problems[0].startswith(f"AddonManager.{name} "), problems
    assert problems[0].endswith(" is missing") or name == "__init__"


def test_manager_problems_of_a_changed_signature_name_both_signatures() -> None:
    class Changed(AddonManager):
        async def invoke_addon(self, addon: Any, event: Any, extra: Any = None) -> None: ...

        def trigger_event(self, event: Any) -> None:  # type: ignore[override]  # no longer async
            ...

    assert manager_problems(Changed) == [
        "Changed.invoke_addon takes (self, addon, event, extra), not (self, addon, event)",
        "Changed.trigger_event is not async",
    ]


def test_manager_problems_of_a_module_without_safecall_name_it() -> None:
    class Module:
        __name__ = "mitmproxy.addonmanager"

    assert manager_problems(AddonManager, Module()) == ["mitmproxy.addonmanager.safecall is missing"]


async def test_use_sparse_dispatch_with_a_manager_lacking_a_method_keeps_mitmproxys_and_logs_one_line(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    async with running_mitmdump(tmp_path, STATIC) as (master, signer):
        manager = master.addons
        with caplog.at_level(logging.INFO, logger=dispatch_module.__name__):
            assert use_sparse_dispatch(master, expected=without("_configure_all")) is manager
        assert master.addons is manager and type(manager) is AddonManager
        lines = [r.getMessage() for r in caplog.records if r.name == dispatch_module.__name__]
        assert len(lines) == 1, lines
        assert "mitmproxy's own, because AddonManager._configure_all is missing" in lines[0]
        assert "oauth1_sparse_dispatch=false" in lines[0]  # the fix, named
        # mitmproxy's manager still dispatches, and our hook signs.
        flow = make_flow(url="https://api.example.com/v1/items")
        await master.addons.handle_lifecycle(HttpRequestHook(flow))
        assert flow.request.headers["authorization"].startswith("OAuth ")


async def test_use_sparse_dispatch_with_a_master_holding_another_manager_keeps_it(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    class Theirs(AddonManager):
        pass

    async with running_mitmdump(tmp_path, STATIC) as (master, _):
        theirs = Theirs(master)
        master.options.changed.disconnect(master.addons._configure_all)
        theirs.chain, theirs.lookup = master.addons.chain, master.addons.lookup
        master.addons = theirs
        assert instance_problems(theirs) != []
        with caplog.at_level(logging.INFO, logger=dispatch_module.__name__):
            assert use_sparse_dispatch(master) is theirs
        lines = [r.getMessage() for r in caplog.records if r.name == dispatch_module.__name__]
        assert len(lines) == 1 and "Theirs, not mitmproxy's AddonManager" in lines[0], lines


async def test_use_sparse_dispatch_turned_off_keeps_mitmproxys_and_says_so(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    async with running_mitmdump(tmp_path, STATIC) as (master, _):
        manager = master.addons
        with caplog.at_level(logging.INFO, logger=dispatch_module.__name__):
            assert use_sparse_dispatch(master, enabled=False) is manager
        assert master.addons is manager
        lines = [r.getMessage() for r in caplog.records if r.name == dispatch_module.__name__]
        assert lines == ["oauth1-proxy: event dispatch: mitmproxy's own (oauth1_sparse_dispatch is false)"]


async def test_use_sparse_dispatch_on_mitmproxy_12_gives_a_sparse_dispatch_and_logs_nothing(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    async with running_mitmdump(tmp_path, STATIC) as (master, _):
        with caplog.at_level(logging.DEBUG, logger=dispatch_module.__name__):
            manager = use_sparse_dispatch(master)
        assert isinstance(manager, SparseDispatch) and master.addons is manager
        assert [r for r in caplog.records if r.name == dispatch_module.__name__] == []


def test_dispatch_module_imports_nothing_of_ours() -> None:
    source = Path(dispatch_module.__file__).read_text(encoding="utf-8")
    imported = []
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.Import):
            imported += [(alias.name, 0) for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            imported.append((node.module or "", node.level))
    assert ("mitmproxy.addonmanager", 0) in imported  # the parse sees its imports at all
    outside = [(m, lvl) for m, lvl in imported if lvl or m.partition(".")[0] not in {"mitmproxy",
               *sys.stdlib_module_names}]
    assert outside == []
