"""The on-disk candle cache: one parquet file per (exchange, symbol, timeframe).

Built with every exchange candle source; pandas loads with the first file read or written."""

from __future__ import annotations

import contextlib
import os
import tempfile
from pathlib import Path
from typing import TYPE_CHECKING

from thunes.domain.candles import OHLCV_COLUMNS

if TYPE_CHECKING:
    import pandas as pd


class CandleStore:
    """Files are plain candle files (a timestamp column), readable by `read_candle_file`."""

    def __init__(self, root: Path) -> None:
        self.root = Path(root)

    def path(self, exchange: str, symbol: str, timeframe: str) -> Path:
        """root/binance/BTC_USDT-1h.parquet, as freqtrade names its data files."""
        stem = symbol.replace("/", "_").replace(":", "_")
        return self.root / exchange / f"{stem}-{timeframe}.parquet"

    def load(self, exchange: str, symbol: str, timeframe: str) -> pd.DataFrame | None:
        """The cached candles, or None when nothing was cached yet."""
        from thunes.data.candles import read_candle_file

        path = self.path(exchange, symbol, timeframe)
        if not path.exists():
            return None
        return read_candle_file(path)

    def save(self, exchange: str, symbol: str, timeframe: str, frame: pd.DataFrame) -> None:
        """Write via a temp file and os.replace, so a crash leaves the old file or the new one."""
        path = self.path(exchange, symbol, timeframe)
        path.parent.mkdir(parents=True, exist_ok=True)
        table = frame[list(OHLCV_COLUMNS)].rename_axis("timestamp").reset_index()
        fd, tmp_name = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
        tmp = Path(tmp_name)
        try:
            with os.fdopen(fd, "wb") as handle:
                table.to_parquet(handle, index=False)
                handle.flush()
                os.fsync(handle.fileno())
            os.replace(tmp, path)
        except BaseException:
            with contextlib.suppress(FileNotFoundError):
                tmp.unlink()
            raise
