"""A cheaper event dispatch for ``oauth1-proxy run`` (issue 5), safe to own (issue 13).

Imports mitmproxy and the standard library, nothing of ours: it could live in
mitmproxy itself (the README's "SparseDispatch" design note says what
mitmproxy would have to guarantee). Measurements are in the README
("Performance"), not here.
"""

from __future__ import annotations

import inspect
import logging
import types
from collections.abc import Iterable
from typing import Any, SupportsIndex

from mitmproxy import addonmanager, exceptions, hooks
from mitmproxy.addonmanager import AddonManager, safecall

logger = logging.getLogger(__name__)

# (addon, True): call the addon's hook; (addon, False): mitmproxy's invoke_addon (children, or not callable).
Step = tuple[Any, bool]


def plan_for(chain: Iterable[Any], event_name: str) -> list[Step]:
    """What an event must call in this chain, in order: mitmproxy's ``_iter_hooks`` over it, done once."""
    steps: list[Step] = []
    for addon in chain:
        if hasattr(addon, "addons"):
            steps.append((addon, False))
            continue
        func = getattr(addon, event_name, None)
        if not func or isinstance(func, types.ModuleType):
            continue
        steps.append((addon, callable(func)))
    return steps


class Chain(list[Any]):
    """The manager's chain: a list that counts its own edits, so a plan can tell it is stale in one compare.

    Every list method that changes the list bumps ``version`` (an in-place
    ``chain[i] = other`` keeps the length and the identity: issue 13). Only
    ``list.method(chain, ...)`` called on the base class directly goes unseen.
    """

    __slots__ = ("version",)

    def __init__(self, items: Iterable[Any] = ()) -> None:
        super().__init__(items)
        self.version = 0

    def __setitem__(self, index: Any, value: Any) -> None:
        super().__setitem__(index, value)
        self.version += 1

    def __delitem__(self, index: Any) -> None:
        super().__delitem__(index)
        self.version += 1

    def __iadd__(self, other: Iterable[Any]) -> Chain:  # type: ignore[misc]
        super().__iadd__(other)
        self.version += 1
        return self

    def __imul__(self, n: SupportsIndex) -> Chain:
        super().__imul__(n)
        self.version += 1
        return self

    def append(self, item: Any) -> None:
        super().append(item)
        self.version += 1

    def extend(self, items: Iterable[Any]) -> None:
        super().extend(items)
        self.version += 1

    def insert(self, index: SupportsIndex, item: Any) -> None:
        super().insert(index, item)
        self.version += 1

    def pop(self, index: SupportsIndex = -1) -> Any:
        item = super().pop(index)
        self.version += 1
        return item

    def remove(self, item: Any) -> None:
        super().remove(item)
        self.version += 1

    def clear(self) -> None:
        super().clear()
        self.version += 1

    def sort(self, *args: Any, **kwargs: Any) -> None:
        super().sort(*args, **kwargs)
        self.version += 1

    def reverse(self) -> None:
        super().reverse()
        self.version += 1


class SparseDispatch(AddonManager):
    """mitmproxy's ``AddonManager``, with an event dispatch that calls only the addons that have the hook.

    mitmproxy's ``AddonManager.trigger_event`` walks the whole chain for every
    event of every flow: each addon through a ``traverse`` generator, a
    ``getattr``, an ``_iter_hooks`` generator, ``invoke_addon`` and a
    ``safecall`` context manager, whether the addon has a hook for the event
    or not.

    ``SparseDispatch`` does the walk once per event name and chain, and keeps the
    result: the addons that have a hook for the event, in chain order. Then each
    event calls exactly what mitmproxy's loop would call, in the same order, each
    call inside mitmproxy's own ``safecall``, stopping on ``AddonHalt``:

    - An addon with children (an ``addons`` attribute: the script loader, a
      script, a user's addon group) may change them at any time, so it is never
      planned: it goes through mitmproxy's ``invoke_addon`` on every event, as in
      mitmdump.
    - A leaf addon is called when it had the hook when the plan was made. The hook
      is still read from the addon at each call, so replacing a method works;
      an addon that grows a hook after it joined the chain is not seen until the
      chain changes (mitmproxy's addons define their hooks as methods).
    - A hook attribute that is not callable goes through ``invoke_addon`` too, so
      mitmproxy's own error is raised; a module of the same name is skipped, as
      mitmproxy skips it.
    - The plans are dropped whenever the chain changes: a list assigned to
      ``chain`` is held as a ``Chain`` (a copy), which counts every edit made
      to it, in place ones included. An addon added by a hook during an event
      is called for that event too, after the others, as mitmproxy's loop over
      the growing list calls it.

    Script mode (``mitmdump -s``) keeps mitmproxy's manager.
    """

    chain: Chain
    _plan_chain: Chain | None = None
    _plan_version = -1
    _plans: dict[str, list[Step]]

    def __setattr__(self, name: str, value: Any) -> None:
        if name == "chain" and type(value) is not Chain:
            value = Chain(value)
        super().__setattr__(name, value)

    def plan(self, event_name: str) -> list[Step]:
        """The steps for an event in the current chain (cached until the chain changes)."""
        chain = self.chain
        if type(chain) is not Chain:  # set around __setattr__: hold it as a Chain from now on
            self.chain = chain = Chain(chain)
        if chain is not self._plan_chain or chain.version != self._plan_version:
            self._plan_chain, self._plan_version, self._plans = chain, chain.version, {}
        steps = self._plans.get(event_name)
        if steps is None:
            steps = self._plans[event_name] = plan_for(chain, event_name)
        return steps

    async def trigger_event(self, event: hooks.Hook) -> None:
        name = event.name
        chain = self.chain  # plan(), inlined: this runs for every event of every flow
        steps = self._plans.get(name) if chain is self._plan_chain and chain.version == self._plan_version else None
        if steps is None:
            steps = self.plan(name)
            chain = self.chain
        length = len(chain)
        args: list[Any] | None = None
        for addon, direct in steps:
            try:
                with safecall():
                    if not direct:
                        await self.invoke_addon(addon, event)
                        continue
                    func = getattr(addon, name, None)
                    if func is None:
                        continue
                    if args is None:
                        args = event.args()  # the hook's fields; the same objects for every addon
                    res = func(*args)
                    if res is not None and inspect.isawaitable(res):
                        await res
            except exceptions.AddonHalt:
                return
        if len(chain) > length:
            # Added to this list during the event (AddonManager.add appends):
            # mitmproxy's `for i in self.chain` reaches them too.
            i = length
            while i < len(chain):
                try:
                    with safecall():
                        await self.invoke_addon(chain[i], event)
                except exceptions.AddonHalt:
                    return
                i += 1


# --- what SparseDispatch was written against (mitmproxy 12.3) -------------------------------------

# Each method SparseDispatch calls, overrides or relies on being called: its parameters and whether it is async.
EXPECTED_METHODS: dict[str, tuple[tuple[str, ...], bool]] = {
    "__init__": (("self", "master"), False),  # sets chain and lookup, connects _configure_all
    "_configure_all": (("self", "updated"), False),  # what master.options.changed calls
    "register": (("self", "addon"), False),
    "add": (("self", "*addons"), False),  # appends to self.chain
    "remove": (("self", "addon"), False),  # assigns self.chain
    "_iter_hooks": (("self", "addon", "event"), False),
    "invoke_addon": (("self", "addon", "event"), True),  # what an addon with children goes through
    "trigger_event": (("self", "event"), True),  # the one we replace
    "handle_lifecycle": (("self", "event"), True),  # calls self.trigger_event
    "trigger": (("self", "event"), False),
}


def _parameters(func: Any) -> tuple[str, ...]:
    out = []
    for p in inspect.signature(func).parameters.values():
        prefix = "*" if p.kind is p.VAR_POSITIONAL else "**" if p.kind is p.VAR_KEYWORD else ""
        out.append(prefix + p.name)
    return tuple(out)


def manager_problems(manager_class: type, module: Any = addonmanager) -> list[str]:
    """How a manager class (and its module) differ from the mitmproxy 12.3 API SparseDispatch relies on."""
    problems: list[str] = []
    for name, (wanted, is_async) in EXPECTED_METHODS.items():
        func = inspect.getattr_static(manager_class, name, None)
        if func is None or not callable(func):
            problems.append(f"{manager_class.__name__}.{name} is missing")
            continue
        try:
            got = _parameters(func)
        except (TypeError, ValueError):
            problems.append(f"{manager_class.__name__}.{name} has no signature to check")
            continue
        if got != wanted:
            problems.append(f"{manager_class.__name__}.{name} takes ({', '.join(got)}), "
                            f"not ({', '.join(wanted)})")
        elif inspect.iscoroutinefunction(func) != is_async:
            problems.append(f"{manager_class.__name__}.{name} is {'not ' if is_async else ''}async")
    call = getattr(module, "safecall", None)
    try:
        takes: tuple[str, ...] | None = _parameters(call) if callable(call) else None
    except (TypeError, ValueError):
        takes = ("?",)
    if takes is None:
        problems.append(f"{module.__name__}.safecall is missing")
    elif takes != ():
        problems.append(f"{module.__name__}.safecall takes ({', '.join(takes)}), not ()")
    halt = getattr(exceptions, "AddonHalt", None)
    if not (isinstance(halt, type) and issubclass(halt, Exception)):
        problems.append("mitmproxy.exceptions.AddonHalt is missing")
    return problems


def instance_problems(manager: Any) -> list[str]:
    """How a running master's manager differs: its class, and the attributes __init__ sets."""
    if type(manager) is not AddonManager:
        return [f"the master's addon manager is {type(manager).__module__}.{type(manager).__qualname__}, "
                "not mitmproxy's AddonManager (replacing it would drop what it adds)"]
    problems = []
    if not isinstance(getattr(manager, "chain", None), list):
        problems.append("AddonManager.chain is not a list")
    if not isinstance(getattr(manager, "lookup", None), dict):
        problems.append("AddonManager.lookup is not a dict")
    changed = getattr(getattr(getattr(manager, "master", None), "options", None), "changed", None)
    if not (callable(getattr(changed, "connect", None)) and callable(getattr(changed, "disconnect", None))):
        problems.append("master.options.changed has no connect/disconnect")
    return problems


def use_sparse_dispatch(master: Any, *, enabled: bool = True, expected: type = AddonManager) -> Any:
    """Give a master (before it runs) a SparseDispatch holding its addons; return the manager in use.

    It falls back to mitmproxy's own manager, with one log line saying why,
    when turned off (``--set oauth1_sparse_dispatch=false``) or when mitmproxy's
    ``AddonManager`` is not the one it was written against (``manager_problems``).

    A new object, not a ``__class__`` swap: on CPython 3.12 a swapped instance
    keeps the old class's attribute layout, and every attribute read on it
    takes a slow path.
    """
    old = master.addons
    if not enabled:
        logger.info("oauth1-proxy: event dispatch: mitmproxy's own (oauth1_sparse_dispatch is false)")
        return old
    problems = manager_problems(expected) or instance_problems(old)
    if problems:
        logger.warning(
            "oauth1-proxy: event dispatch: mitmproxy's own, because %s; SparseDispatch was written for "
            "mitmproxy 12.3's AddonManager. Signing is unaffected; to silence this, pin mitmproxy>=12.3,<13 or "
            "--set oauth1_sparse_dispatch=false.", "; ".join(problems),
        )
        return old
    new = SparseDispatch(master)  # connects its own _configure_all to master.options.changed
    master.options.changed.disconnect(old._configure_all)
    new.lookup, new.chain = old.lookup, old.chain
    master.addons = new
    return new
