"""Sign N requests of one case with old (3fda9fe) or new sign_request; run under callgrind (Ir per call = (N - 0)/N)."""
import sys
sys.path.insert(0, "/tmp/sig13")
exec(open("notes/sig13-measure/alternate.py").read().split("N = int")[0])
which, case_name, placement, n = sys.argv[1], sys.argv[2], sys.argv[3], int(sys.argv[4])
mod = {"old": old, "new": new}[which]
case = {c.name: c for c in CASES}[case_name]
f = runner(mod, case, placement)
f()  # warm: the first call builds caches (re, enum) in both runs, N=0 included
for _ in range(n):
    f()
