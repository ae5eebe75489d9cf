"""`thunes mode=paper exchange=binance exchange.base_url=...`: paper trading on a ccxt
venue's live candles (the Binance stand-in, on an accelerated clock), fills simulated
locally by the backtest's rules, no key needed, as freqtrade's dry-run does."""

from __future__ import annotations

import re
import time
from pathlib import Path

import pytest

from tests.cli.run import run_thunes
from tests.fakes.binance import FakeBinance

SPEED = 20.0  # market seconds per real second: a 1m candle every 3 s, 10 minutes in 30 s,
# time for a loaded host to connect the stream (it then back-fills the closes it missed)
T0 = 1_704_067_200_000 + 30_000


def test_paper_trades_a_ccxt_venues_stream_and_steps_every_closed_candle_once(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    with FakeBinance(start_ms=T0, speed=SPEED, tick_s=0.02) as server:
        code = run_thunes(
            [
                "mode=paper",
                "exchange=binance",
                f"exchange.base_url={server.url}",
                f"paper.speed={SPEED:g}",
                "paper.duration=10m",
                "paper.view=false",
                "strategy=grid",
                "tracking=none",
                f"state.dir={tmp_path / 'state'}",
            ],
            monkeypatch,
            tmp_path,
        )
        orders_on_venue = server.stats.orders
    captured = capsys.readouterr()
    out = " ".join((captured.out + captured.err).split())
    assert code == 0, out
    assert "paper.duration reached" in out
    steps = int(re.search(r"after ([\d,]+) steps", out).group(1).replace(",", ""))  # type: ignore[union-attr]
    assert 9 <= steps <= 10, out  # one per closed 1m candle in 10 market minutes, none twice
    sent = int(re.search(r"(\d+) orders sent", out).group(1))  # type: ignore[union-attr]
    assert sent > 0  # the grid laid its levels on the first close
    assert orders_on_venue == 0  # paper: fills are simulated here, nothing reaches the venue


def test_a_restart_back_fills_the_candles_that_closed_while_it_was_down(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    speed = SPEED  # a loaded machine still sees each close

    def paper(server: FakeBinance, duration: str) -> tuple[int, str]:
        code = run_thunes(
            [
                "mode=paper",
                "exchange=binance",
                f"exchange.base_url={server.url}",
                f"paper.speed={speed:g}",
                f"paper.duration={duration}",  # from the first start's market time
                "paper.view=false",
                "strategy=grid",
                "tracking=none",
                f"state.dir={tmp_path / 'state'}",
            ],
            monkeypatch,
            tmp_path,
        )
        captured = capsys.readouterr()
        out = " ".join((captured.out + captured.err).split())
        assert code == 0, out
        return int(re.search(r"after ([\d,]+) steps", out).group(1).replace(",", "")), out  # type: ignore[union-attr]

    with FakeBinance(start_ms=T0, speed=speed, tick_s=0.02) as server:
        first, said = paper(server, "4m")
        assert first > 0, said
        time.sleep(9.0)  # down for 3 market minutes at least
        second, out = paper(server, "10m")
    assert "paper: resuming" in out
    # one step per closed 1m candle of the 10 market minutes, none twice, none lost in
    # the gap (without the back-fill the second run would start 3 or more candles later)
    assert 9 <= first + second <= 10, (first, second, out)
