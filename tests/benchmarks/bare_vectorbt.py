"""The whole-process reference: the SMA 10/50 backtest a user writes with vectorbt alone.

    python tests/benchmarks/bare_vectorbt.py close.npz

`close.npz` holds `close` and `time_ms` (the simulator's series, saved by the bench). The
script is timed as a process from outside; the stage times it prints only explain the total.
"""

import json
import sys
import time

t0 = time.perf_counter()
import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402
import vectorbt as vbt  # noqa: E402

t1 = time.perf_counter()
data = np.load(sys.argv[1])
close = pd.Series(data["close"], index=pd.to_datetime(data["time_ms"], unit="ms"))
fast, slow = vbt.MA.run(close, 10), vbt.MA.run(close, 50)
entries, exits = fast.ma_crossed_above(slow), fast.ma_crossed_below(slow)
t2 = time.perf_counter()
pf = vbt.Portfolio.from_signals(close, entries, exits, fees=0.001, slippage=0.0005, freq="1h")
t3 = time.perf_counter()
stats = pf.stats()
t4 = time.perf_counter()
print(stats)
stages = {"import": t1 - t0, "signals": t2 - t1, "from_signals": t3 - t2, "stats": t4 - t3}
print("BENCH_JSON " + json.dumps({"stages": stages, "trades": int(stats["Total Trades"])}))
