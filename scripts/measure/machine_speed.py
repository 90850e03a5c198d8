"""How this machine's speed moves under a fixed piece of work: why a 2 s round of the bench scatters (issue 17).

    .venv/bin/python scripts/measure/machine_speed.py [CHUNKS]

Runs the same pure-Python loop CHUNKS times (default 300, ~20 ms each), timing each by process CPU time, and
prints each chunk's time against the median (%), their spread, and their autocorrelation at a few lags: a
quiet machine gives a narrow spread; a shared one (another guest on the same core) shows levels, and the lag
where the correlation is gone is how long a level lasts. Run it with nothing else on the machine.
"""

from __future__ import annotations

import statistics
import sys
import time


def _work() -> int:
    total = 0
    for i in range(200_000):
        total += i * i
    return total


def _autocorrelation(values: list[float], lag: int) -> float:
    a, b = values[:-lag], values[lag:]
    mean_a, mean_b = statistics.fmean(a), statistics.fmean(b)
    top = sum((x - mean_a) * (y - mean_b) for x, y in zip(a, b, strict=True))
    bottom = (sum((x - mean_a) ** 2 for x in a) * sum((y - mean_b) ** 2 for y in b)) ** 0.5
    return top / bottom if bottom else 0.0


def main(argv: list[str]) -> int:
    chunks = int(argv[0]) if argv else 300
    times = []
    for _ in range(chunks):
        started = time.process_time()
        _work()
        times.append(time.process_time() - started)
    median = statistics.median(times)
    relative = [t / median for t in times]
    print(f"{chunks} chunks of the same work, median {median * 1000:.1f} ms of CPU each")
    print("each against the median (%):", " ".join(f"{r * 100:.0f}" for r in relative))
    quartiles = statistics.quantiles(relative, n=20)
    print(f"spread: standard deviation {statistics.stdev(relative):.1%}; 5th to 95th percentile "
          f"{quartiles[0]:.0%} to {quartiles[-1]:.0%}")
    lags = [lag for lag in (1, 2, 5, 10, 20, 50) if lag < chunks // 2]
    print("autocorrelation at lag " + ", ".join(f"{lag}: {_autocorrelation(relative, lag):.2f}" for lag in lags))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
