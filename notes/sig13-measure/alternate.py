"""Alternate old (3fda9fe) and new sign_request in one process; print µs per call for each case."""
import importlib.util, sys, time, statistics
sys.path.insert(0, "/tmp/sig13")
import old_signing as old
from oauth1_proxy import signing as new
from oauth1_proxy.devtools.bench.signer import CASES, CONSUMER_KEY, CONSUMER_SECRET, TOKEN, TOKEN_SECRET, NONCE, TIMESTAMP

def runner(mod, case, placement="header", realm=None):
    client = mod.ClientCredentials(key=CONSUMER_KEY, secret=CONSUMER_SECRET)
    token = mod.TokenCredentials(token=TOKEN, secret=TOKEN_SECRET)
    RS, sr, M, P = mod.RequestToSign, mod.sign_request, mod.SignatureMethod.HMAC_SHA1, mod.Placement(placement)
    def run():
        return sr(RS(method=case.method, url=case.url, content_type=case.content_type, body=case.body),
                  client=client, token=token, signature_method=M, nonce=NONCE, timestamp=TIMESTAMP, placement=P, realm=realm)
    return run

N = int(sys.argv[1]) if len(sys.argv) > 1 else 20000
ROUNDS = int(sys.argv[2]) if len(sys.argv) > 2 else 15
for case in CASES:
  for placement in ("header", "query"):
    fns = {"old": runner(old, case, placement), "new": runner(new, case, placement)}
    a, b = fns["old"](), fns["new"]()
    assert (a.url, a.authorization, a.body) == (b.url, b.authorization, b.body)
    res = {"old": [], "new": []}
    for r in range(ROUNDS):
        for name in (("old", "new") if r % 2 == 0 else ("new", "old")):
            f = fns[name]
            t = time.perf_counter()
            for _ in range(N): f()
            res[name].append((time.perf_counter() - t) / N * 1e6)
    mo, mn = min(res["old"]), min(res["new"])
    print(f"{case.name:5} {placement:6} old {mo:6.2f} µs (median {statistics.median(res['old']):6.2f})  new {mn:6.2f} µs (median {statistics.median(res['new']):6.2f})  new/old {mn/mo:5.3f}")
