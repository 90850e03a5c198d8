"""The helper page's "this run" column (SPEC §13): plain lines from run_stats, and the script refreshing them.

(The token's expiry and renewal are in the page's State column, from web_support.login_state.)

One source of truth: ``explain_lines`` renders the lines in Python; the page
shows them at load, and ``/status.json`` carries the same lines (``explain``)
so the page's script only swaps text. The script sets ``textContent`` only
(a provider wrote part of these lines: never parsed as HTML), polls the
helper's own ``status.json`` every few seconds, same origin, with the page's
path prefix. No secret is in any line (run_stats.py).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

REFRESH_SECONDS = 3


def explain_lines(run: Mapping[str, Any]) -> list[str]:
    """What this run did for one profile, as short lines (empty when nothing is known)."""
    lines: list[str] = []
    if run:
        lines.append(f"signed {run.get('signed', 0)}, refused by the proxy {run.get('refused_by_proxy', 0)}, "
                     f"refused by the provider {run.get('refused_by_provider', 0)}")
        last = run.get("last_provider_refusal")
        if last:
            lines.append(f"last refusal by the provider ({last['at']}): {last['request']}: {last['summary']}")
            lines.extend(f"base string: {d}" for d in last.get("base_string_differences", ()))
        offset = run.get("learned_clock_offset")
        if offset:
            lines.append(f"learned clock correction: {offset:+d} s (the provider's clock against ours)")
    return lines


SCRIPT = """<script>
(function () {
  var url = %(url)s;
  function show(profiles) {
    profiles.forEach(function (p) {
      var cell = document.getElementById("run-" + p.name);
      if (!cell) return;
      var lines = (p.explain || []).map(function (text) {
        var div = document.createElement("div");
        div.textContent = text;
        return div;
      });
      cell.replaceChildren.apply(cell, lines);
    });
  }
  function poll() {
    fetch(url, {credentials: "same-origin", cache: "no-store"})
      .then(function (r) { return r.ok ? r.json() : null; })
      .then(function (data) { if (data) show(data.profiles); })
      .catch(function () {})
      .finally(function () { setTimeout(poll, %(ms)d); });
  }
  setTimeout(poll, %(ms)d);
})();
</script>"""


def refresh_script(status_url: str) -> str:
    """The page's script polling ``status_url`` (a same-origin path)."""
    import json

    # json.dumps, then "<" escaped: the URL cannot end the script element.
    return SCRIPT % {"url": json.dumps(status_url).replace("<", "\\u003c"), "ms": REFRESH_SECONDS * 1000}
