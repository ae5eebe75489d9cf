"""Structured-config dataclasses: one schema per config-group option.

Each YAML option extends its schema (`- /schema_<group>_<option>@_here_` in its defaults),
so Hydra rejects unknown keys and wrong types while composing. `__post_init__` adds the
value checks, run by `validate()` before anything touches data, orders or the network.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from hydra.core.config_store import ConfigStore
from omegaconf import MISSING

from thunes.config import checks
from thunes.domain.timeframes import KNOWN_TIMEFRAMES, span_ms, utc_ms
from thunes.drift.detectors import ACTIONS as DRIFT_ACTIONS
from thunes.drift.detectors import STREAMS as DRIFT_STREAMS
from thunes.notify.events import LEVELS, default_policies, level_of, policies

MODES = ("backtest", "replay", "sweep", "paper", "live", "download")
GAP_POLICIES = ("fail", "keep", "ffill")
_SYMBOL = re.compile(r"^[A-Z0-9]{2,12}/[A-Z0-9]{2,12}$")


def _check_date(key: str, value: str | None) -> None:
    if value is None:
        return
    try:
        utc_ms(value)
    except ValueError:
        raise checks.ConfigValueError(key, value, "an ISO date such as 2020-01-01") from None


@dataclass
class FeesConfig:
    maker: float = 0.001
    taker: float = 0.001
    # true: the venue takes the fee from what an order receives (base on a buy, quote on a
    # sell), as Binance does; false: paid on top in quote, as textbooks (experiment=textbook)
    from_received: bool = True

    def __post_init__(self) -> None:
        checks.fraction("fees.maker", self.maker, 0.1)
        checks.fraction("fees.taker", self.taker, 0.1)


@dataclass
class _ExchangeCosts:
    fees: FeesConfig = field(default_factory=FeesConfig)
    slippage: float = 0.0005

    def __post_init__(self) -> None:
        checks.fraction("slippage", self.slippage, 0.1)


@dataclass
class SimExchangeConfig(_ExchangeCosts):
    _target_: str = "thunes.exchange.sim.SimExchange"
    seed: int = 7
    origin: str = "2017-01-01"
    annual_volatility: float = 0.65

    def __post_init__(self) -> None:
        super().__post_init__()
        _check_date("origin", self.origin)
        checks.positive("annual_volatility", self.annual_volatility)


@dataclass
class CcxtExchangeConfig(_ExchangeCosts):
    _target_: str = "thunes.exchange.ccxt_exchange.CcxtExchange"
    exchange_id: str = MISSING
    sandbox: bool = False
    base_url: str | None = None
    """A Binance-compatible server (a test stand-in, a gateway) for REST and websockets."""
    twin_url: str | None = None
    """With `base_url`: the other network's server (the testnet's beside a mainnet, and
    back), where the live guard tries a refused key to tell which network it belongs to."""
    options: dict[str, Any] = field(default_factory=dict)
    api_key_env: str | None = None
    secret_env: str | None = None
    max_retries: int = 5
    retry_backoff_s: float = 1.0
    timeout_ms: int = 10_000

    def __post_init__(self) -> None:
        super().__post_init__()
        checks.non_negative("max_retries", self.max_retries)
        checks.non_negative("retry_backoff_s", self.retry_backoff_s)
        checks.positive("timeout_ms", self.timeout_ms)


@dataclass
class MarketFiltersConfig:
    _target_: str = "thunes.domain.market.MarketFilters"
    tick_size: float = MISSING
    step_size: float = MISSING
    min_qty: float = 0.0
    min_notional: float = 0.0

    def __post_init__(self) -> None:
        checks.positive("filters.tick_size", self.tick_size)
        checks.positive("filters.step_size", self.step_size)
        checks.non_negative("filters.min_qty", self.min_qty)
        checks.non_negative("filters.min_notional", self.min_notional)


@dataclass
class MarketConfig:
    _target_: str = "thunes.domain.market.Market"
    symbol: str = MISSING
    filters: MarketFiltersConfig = MISSING

    def __post_init__(self) -> None:
        if not _SYMBOL.match(self.symbol):
            raise checks.ConfigValueError("symbol", self.symbol, "BASE/QUOTE such as BTC/USDT")


@dataclass
class _CandleWindow:
    timeframe: str = "1h"
    since: str | None = None
    until: str | None = None
    gaps: str = "keep"

    def __post_init__(self) -> None:
        checks.one_of("timeframe", self.timeframe, KNOWN_TIMEFRAMES)
        checks.one_of("gaps", self.gaps, GAP_POLICIES)
        _check_date("since", self.since)
        _check_date("until", self.until)
        if self.since and self.until and utc_ms(self.since) >= utc_ms(self.until):
            raise checks.ConfigValueError("until", self.until, f"must be after since={self.since}")


@dataclass
class ExchangeDataConfig(_CandleWindow):
    _target_: str = "thunes.data.sources.ExchangeCandleSource"
    cache_dir: str = "data"


@dataclass
class SimDataConfig(_CandleWindow):
    _target_: str = "thunes.data.sources.SimCandleSource"
    seed: int = 7


@dataclass
class FileDataConfig(_CandleWindow):
    _target_: str = "thunes.data.sources.FileCandleSource"
    path: str = MISSING

    def __post_init__(self) -> None:
        super().__post_init__()
        if not self.path.endswith((".csv", ".parquet")):
            raise checks.ConfigValueError("path", self.path, "a .csv or .parquet file")


def _optional_fraction(key: str, value: float | None) -> None:
    if value is not None and not 0 < value < 1:
        raise checks.ConfigValueError(key, value, "null, or a fraction in (0, 1)")


@dataclass
class SmaCrossConfig:
    _target_: str = "thunes.strategy.sma_cross.SmaCross"
    fast: int = MISSING
    slow: int = MISSING
    ma: str = MISSING
    stop_loss: float | None = MISSING
    take_profit: float | None = MISSING
    trailing_stop: float | None = MISSING

    def __post_init__(self) -> None:
        checks.positive("fast", self.fast)
        if self.fast >= self.slow:
            raise checks.ConfigValueError("fast", self.fast, f"must be < slow ({self.slow})")
        checks.one_of("ma", self.ma, ("sma", "ema"))
        _optional_fraction("stop_loss", self.stop_loss)
        _optional_fraction("take_profit", self.take_profit)
        _optional_fraction("trailing_stop", self.trailing_stop)


@dataclass
class TargetOnly:
    """Options whose class takes no arguments (filters=none, notifier=none, drift=none)."""

    _target_: str = MISSING


@dataclass
class NotifierUrlConfig:
    """One Apprise destination: the URL (a secret: never logged nor saved), its tag (its name
    in logs and counts) and the least urgent level it takes."""

    url: str = MISSING
    tag: str = ""
    min_level: str = "info"

    def __post_init__(self) -> None:
        checks.one_of("min_level", self.min_level, LEVELS)


@dataclass
class _NotifierQueue:
    """What every Apprise-backed notifier shares: which events it sends (on, silent, off)
    and how its queue paces, retries and flushes (thunes/notify/channel.py)."""

    events: dict[str, Any] = field(default_factory=default_policies)
    rate_per_s: float = 1.0  # per channel: Telegram allows about 1 message/s per chat
    queue_size: int = 100  # messages waiting per channel (similar events share one)
    retries: int = 5
    backoff_s: float = 1.0  # doubled at each retry, up to max_backoff_s
    max_backoff_s: float = 60.0
    send_timeout_s: float = 10.0
    flush_timeout_s: float = 10.0  # at exit, what is queued gets this long in all

    def __post_init__(self) -> None:
        policies(self.events)
        checks.positive("rate_per_s", self.rate_per_s)
        checks.positive("queue_size", self.queue_size)
        checks.non_negative("retries", self.retries)
        checks.non_negative("backoff_s", self.backoff_s)
        checks.non_negative("max_backoff_s", self.max_backoff_s)
        checks.positive("send_timeout_s", self.send_timeout_s)
        checks.non_negative("flush_timeout_s", self.flush_timeout_s)


@dataclass
class AppriseNotifierConfig(_NotifierQueue):
    _target_: str = "thunes.notify.apprise_notifier.AppriseNotifier"
    urls: list[NotifierUrlConfig] = field(default_factory=list)

    def __post_init__(self) -> None:
        super().__post_init__()
        if not self.urls:
            raise checks.ConfigValueError(
                "urls", [], "at least one {url: ..., tag: ..., min_level: info|warning|critical}"
            )


@dataclass
class TelegramNotifierConfig(_NotifierQueue):
    _target_: str = "thunes.notify.apprise_notifier.TelegramNotifier"
    bot_token_env: str = "TELEGRAM_BOT_TOKEN"  # names of environment variables, not values
    chat_id_env: str = "TELEGRAM_CHAT_ID"
    min_level: str = "info"
    critical_url: str | None = None  # another Apprise URL for critical events (mail, ntfy...)
    commands: bool = False  # the control commands from this chat (thunes/ops/telegram.py)

    def __post_init__(self) -> None:
        super().__post_init__()
        level_of("min_level", self.min_level)


@dataclass
class FixedQuoteSizingConfig:
    _target_: str = "thunes.portfolio.sizing.FixedQuote"
    amount: float = 100.0

    def __post_init__(self) -> None:
        checks.positive("amount", self.amount)


@dataclass
class EquityFractionSizingConfig:
    _target_: str = "thunes.portfolio.sizing.EquityFraction"
    fraction: float = 0.1

    def __post_init__(self) -> None:
        if not 0 < self.fraction <= 1:
            raise checks.ConfigValueError("fraction", self.fraction, "must be in (0, 1]")


@dataclass
class RiskLimitsConfig:
    _target_: str = "thunes.risk.limits.RiskLimits"
    max_loss_per_trade: float = 5.0
    max_daily_loss: float = 20.0
    max_open_positions: int = 3
    cooldown_minutes: float = 60.0
    kill_switch: bool = True
    strict: bool = False  # true: a strategy the limits do not fit is refused, not warned about
    cooldown_scope: str = "global"  # or "symbol"
    max_orders_per_minute: float = 600.0  # market time
    max_price_deviation_pct: float = 10.0  # fat-finger guard, from the last close
    max_position_notional: float = float("inf")  # quote committed to one symbol
    max_total_notional: float = float("inf")  # to all of them
    max_open_orders_per_symbol: int = 50
    reset: bool = False  # true: lift a tripped kill-switch at start

    def __post_init__(self) -> None:
        checks.one_of("cooldown_scope", self.cooldown_scope, ("global", "symbol"))
        checks.positive("max_orders_per_minute", self.max_orders_per_minute)
        checks.positive("max_price_deviation_pct", self.max_price_deviation_pct)
        checks.positive("max_position_notional", self.max_position_notional)
        checks.positive("max_total_notional", self.max_total_notional)
        checks.positive("max_open_orders_per_symbol", self.max_open_orders_per_symbol)
        checks.at_most(
            "max_position_notional",
            self.max_position_notional,
            "max_total_notional",
            self.max_total_notional,
        )
        checks.positive("max_loss_per_trade", self.max_loss_per_trade)
        checks.positive("max_daily_loss", self.max_daily_loss)
        checks.positive("max_open_positions", self.max_open_positions)
        checks.non_negative("cooldown_minutes", self.cooldown_minutes)
        checks.at_most(
            "max_loss_per_trade", self.max_loss_per_trade, "max_daily_loss", self.max_daily_loss
        )


@dataclass
class MlflowTrackingConfig:
    _target_: str = "thunes.tracking.mlflow_tracker.MlflowTracker"
    tracking_uri: str = "sqlite:///mlruns/mlflow.db"
    experiment: str = "thunes"
    artifact_root: str = "mlruns/artifacts"


@dataclass
class _DriftConfig:
    """What every drift detector shares (thunes/drift/detectors.py): the streams it watches,
    the actions an alarm takes, and what each stream is standardised against."""

    streams: list[str] = field(default_factory=lambda: ["trade_return", "loss", "volatility"])
    actions: list[str] = field(default_factory=lambda: ["notify", "mlflow"])
    reference: dict[str, list[float]] = field(default_factory=dict)  # stream: [mean, std]
    reference_trades: str | None = None  # a reference backtest's trades.csv: return, loss
    warmup: int = 30  # values a stream without a reference learns its own from
    window: int = 24  # bars per volatility value, quotes per spread value
    resweep_days: int = 90  # the recent data a re-optimisation request sweeps

    def __post_init__(self) -> None:
        for name in self.streams:
            checks.one_of("streams", name, DRIFT_STREAMS)
        for name in self.actions:
            checks.one_of("actions", name, DRIFT_ACTIONS)
        for name, pair in self.reference.items():
            checks.one_of("reference", name, DRIFT_STREAMS)
            if len(pair) != 2 or not pair[1] > 0:
                raise checks.ConfigValueError(f"reference.{name}", list(pair), "[mean, std > 0]")
        if self.reference_trades is not None and not Path(self.reference_trades).is_file():
            raise checks.ConfigValueError(
                "reference_trades", self.reference_trades, "a backtest's trades.csv"
            )
        if self.warmup < 2:
            raise checks.ConfigValueError("warmup", self.warmup, "must be >= 2")
        if self.window < 2:
            raise checks.ConfigValueError("window", self.window, "must be >= 2")
        checks.positive("resweep_days", self.resweep_days)


def _open_fraction(key: str, value: float) -> None:
    if not 0 < value < 1:
        raise checks.ConfigValueError(key, value, "must be in (0, 1)")


@dataclass
class AdwinDriftConfig(_DriftConfig):
    _target_: str = "thunes.drift.detectors.Adwin"
    delta: float = MISSING
    clock: int = 1  # check at every value: per-trade streams are sparse
    grace_period: int = 10

    def __post_init__(self) -> None:
        super().__post_init__()
        _open_fraction("delta", self.delta)
        checks.positive("clock", self.clock)
        checks.positive("grace_period", self.grace_period)


@dataclass
class PageHinkleyDriftConfig(_DriftConfig):
    _target_: str = "thunes.drift.detectors.PageHinkley"
    threshold: float = MISSING
    delta: float = MISSING
    min_instances: int = 30
    alpha: float = 0.9999

    def __post_init__(self) -> None:
        super().__post_init__()
        checks.positive("threshold", self.threshold)
        checks.non_negative("delta", self.delta)
        checks.positive("min_instances", self.min_instances)
        if not 0 < self.alpha <= 1:
            raise checks.ConfigValueError("alpha", self.alpha, "must be in (0, 1]")


@dataclass
class KswinDriftConfig(_DriftConfig):
    _target_: str = "thunes.drift.detectors.Kswin"
    alpha: float = MISSING
    window_size: int = 100
    stat_size: int = 30
    seed: int = 7

    def __post_init__(self) -> None:
        super().__post_init__()
        _open_fraction("alpha", self.alpha)
        checks.positive("stat_size", self.stat_size)
        if not self.window_size > self.stat_size:
            raise checks.ConfigValueError(
                "window_size", self.window_size, f"must be > stat_size ({self.stat_size})"
            )


@dataclass
class DdmDriftConfig(_DriftConfig):
    _target_: str = "thunes.drift.detectors.Ddm"
    drift_threshold: float = MISSING
    warning_threshold: float = 2.0
    warm_start: int = 30
    flag_z: float = 1.0

    def __post_init__(self) -> None:
        super().__post_init__()
        checks.positive("warm_start", self.warm_start)
        checks.positive("flag_z", self.flag_z)
        checks.positive("warning_threshold", self.warning_threshold)
        if not self.drift_threshold > self.warning_threshold:
            raise checks.ConfigValueError(
                "drift_threshold",
                self.drift_threshold,
                f"must be > warning_threshold ({self.warning_threshold})",
            )


@dataclass
class ModeConfig:
    name: str = MISSING
    plots: bool = True

    def __post_init__(self) -> None:
        checks.one_of("name", self.name, MODES)


def _check_span(key: str, value: str | None) -> None:
    """A market-time span such as 2d, 12h or 90m (pandas' Timedelta spelling), > 0."""
    if value is None:
        return
    try:
        span = span_ms(value)
    except ValueError:
        raise checks.ConfigValueError(key, value, "a span such as 2d, 12h or 90m") from None
    if span <= 0:
        raise checks.ConfigValueError(key, value, "must be > 0")


@dataclass
class PaperConfig:
    """How mode=paper runs its market clock (thunes/feeds/clock.py)."""

    speed: float = 1.0  # market seconds per real second; 0: as fast as it can
    duration: str | None = None  # market time, e.g. 2d, then it stops by itself; null: never
    once: bool = False  # act on the last closed candle, then exit
    start: str | None = None  # market time the simulator's stream starts from; null: now
    view: bool = True  # the live terminal view; false: one line per fill and order

    def __post_init__(self) -> None:
        checks.non_negative("speed", self.speed)
        _check_span("duration", self.duration)
        _check_date("start", self.start)


@dataclass
class StateConfig:
    """Where a paper or live run keeps what it must not forget (thunes/state/), one file and
    one lock per exchange, account and mode."""

    dir: str = "state"  # relative to where thunes runs (the project: `make paper`)
    account: str = "default"  # the account's name: two names keep two separate states
    durable: bool = False  # fsync each commit (survives a power cut; ~4 ms a write)

    def __post_init__(self) -> None:
        if not self.dir.strip():
            raise checks.ConfigValueError("dir", self.dir, "a directory")
        if not re.fullmatch(r"[A-Za-z0-9_.-]{1,40}", self.account):
            raise checks.ConfigValueError(
                "account", self.account, "1-40 of letters, digits, '_', '.', '-'"
            )


@dataclass
class ProfileConfig:
    """Bounds a profile (conf/profile/, e.g. `+profile=micro_live`) sets on the rest of the
    config, checked before anything runs (validate.py); none by default."""

    name: str | None = None
    min_cash: float | None = None
    max_cash: float | None = None
    max_symbols: int | None = None
    refuse_testnet: bool = False  # testnet venues and keys refused (thunes/config/profile.py)

    def __post_init__(self) -> None:
        for key in ("min_cash", "max_cash", "max_symbols"):
            if getattr(self, key) is not None:
                checks.positive(key, getattr(self, key))
        if self.min_cash is not None and self.max_cash is not None:
            checks.at_most("min_cash", self.min_cash, "max_cash", self.max_cash)


@dataclass
class LiveConfig:
    """A session on a venue (mode=live, or paper on a testnet): thunes/modes/venue.py."""

    confirm: bool = False  # real money: mode=live refuses to start without live.confirm=true
    allow_withdrawal_keys: bool = False  # the guard refuses a key that can withdraw unless true
    resume: bool = False  # lift the pauses a reconciliation set (someone looked at why)
    work_every_s: float = 2.0  # the brokers' network work between candles (orders polled)
    reconcile_every_s: float = 300.0  # a reconciliation with the exchange, as at start
    markets_every_s: float = 3600.0  # markets (statuses, filters) read again
    report_hour: int = 0  # the daily report, at this hour UTC

    def __post_init__(self) -> None:
        for key in ("work_every_s", "reconcile_every_s", "markets_every_s"):
            checks.positive(key, getattr(self, key))
        if not 0 <= self.report_hour <= 23:
            raise checks.ConfigValueError("report_hour", self.report_hour, "an hour, 0 to 23")


LOG_LEVELS = ("debug", "info", "warning", "error")


@dataclass
class OpsConfig:
    """How a running paper or live session is watched and steered (thunes/ops/): Prometheus
    metrics, structured logs, a dead-man's switch and the local control API."""

    metrics_port: int | None = None  # Prometheus /metrics (e.g. 9108); null: off; 0: any free
    metrics_host: str = "127.0.0.1"
    log_level: str = "info"  # what <run dir>/logs/thunes.jsonl keeps
    console_log_level: str = "warning"  # what the terminal shows (the view stays readable)
    ping_url: str | None = None  # a dead-man's switch (healthchecks.io, Uptime Kuma push URL)
    ping_every_s: float = 60.0  # host seconds between pings, while the loop is alive and fed
    stale_after_s: float | None = None  # no event for this long: unhealthy; null: from the feed
    api: bool = True  # the control API and status page (thunes/ops/api.py)
    api_host: str = "127.0.0.1"  # another address needs a token in THUNES_API_TOKEN
    api_port: int = 8765  # 0: any free port

    def __post_init__(self) -> None:
        for key in ("metrics_port", "api_port"):
            port = getattr(self, key)
            if port is not None and not 0 <= port <= 65535:
                raise checks.ConfigValueError(key, port, "a TCP port, 0-65535")
        checks.one_of("log_level", self.log_level, LOG_LEVELS)
        checks.one_of("console_log_level", self.console_log_level, LOG_LEVELS)
        checks.positive("ping_every_s", self.ping_every_s)
        if self.stale_after_s is not None:
            checks.positive("stale_after_s", self.stale_after_s)
        if self.ping_url is not None and not re.match(r"^https?://", self.ping_url):
            raise checks.ConfigValueError("ping_url", "***", "an http:// or https:// URL")


OBJECTIVES = ("sharpe", "sortino", "calmar", "total_return", "cagr", "max_drawdown")
"""Metrics a sweep can optimise, all higher-is-better (vectorbt's drawdown is negative)."""
SPLITS = ("holdout", "walk_forward")
CONSTRAINT_RULE = re.compile(r"^\s*([\w.]+)\s*(<=|>=|<|>|==|!=)\s*([\w.+-]+)\s*$")
"""`left op right`, each side a config key or a number: `strategy.fast < strategy.slow`."""


@dataclass
class SplitConfig:
    """Where in-sample ends: a date or a share of the bars; or k walk-forward folds."""

    kind: str = "holdout"
    train_end: str | None = None
    train_fraction: float = 0.7
    folds: int = 4
    anchored: bool = True

    def __post_init__(self) -> None:  # keys under `split`, as FeesConfig's under `fees`
        checks.one_of("split.kind", self.kind, SPLITS)
        _check_date("split.train_end", self.train_end)
        if not 0 < self.train_fraction < 1:
            raise checks.ConfigValueError("split.train_fraction", self.train_fraction, "in (0, 1)")
        if self.folds < 1:
            raise checks.ConfigValueError("split.folds", self.folds, "must be >= 1")


@dataclass
class SweepConfig:
    """What a sweep optimises and how it judges the result; the space is the preset's
    `hydra.sweeper.params`, shared by both engines."""

    engine: str = "optuna"
    objectives: list[str] = field(default_factory=lambda: ["sharpe"])
    direction: list[str] = field(default_factory=list)
    constraints: list[str] = field(default_factory=list)
    split: SplitConfig = field(default_factory=SplitConfig)
    top_k: int = 10
    alpha: float = 0.05
    batch: int = 512
    max_combinations: int = 200_000

    def __post_init__(self) -> None:
        checks.one_of("engine", self.engine, ("optuna", "grid"))
        if not self.objectives:
            raise checks.ConfigValueError("objectives", self.objectives, "at least one metric")
        for name in self.objectives:
            checks.one_of("objectives", name, OBJECTIVES)
        for way in self.direction:
            checks.one_of("direction", way, ("maximize", "minimize"))
        if self.direction and len(self.direction) != len(self.objectives):
            raise checks.ConfigValueError("direction", self.direction, "one per objective")
        for rule in self.constraints:
            if not CONSTRAINT_RULE.match(rule):
                raise checks.ConfigValueError(
                    "constraints", rule, "like 'strategy.fast < strategy.slow'"
                )
        checks.positive("top_k", self.top_k)
        checks.fraction("alpha", self.alpha, 0.5)
        checks.positive("batch", self.batch)
        checks.positive("max_combinations", self.max_combinations)


@dataclass
class ThunesConfig:
    """The root: one node per group, plus the account's starting cash."""

    mode: Any = MISSING
    exchange: Any = MISSING
    symbol: Any = MISSING
    data: Any = MISSING
    strategy: Any = MISSING
    filters: Any = MISSING
    sizing: Any = MISSING
    risk: Any = MISSING
    notifier: Any = MISSING
    tracking: Any = MISSING
    drift: Any = MISSING
    cash: float = 1000.0
    symbols: list[str] = field(default_factory=list)
    sweep: SweepConfig = field(default_factory=SweepConfig)
    paper: PaperConfig = field(default_factory=PaperConfig)
    state: StateConfig = field(default_factory=StateConfig)
    live: LiveConfig = field(default_factory=LiveConfig)
    profile: ProfileConfig = field(default_factory=ProfileConfig)
    ops: OpsConfig = field(default_factory=OpsConfig)


@dataclass
class DcaConfig:
    _target_: str = "thunes.strategy.dca.Dca"
    quote_amount: float = MISSING
    every_bars: int | None = MISSING
    drop_pct: float | None = MISSING
    volume_multiplier: float = MISSING
    max_safety_orders: int = MISSING
    take_profit_pct: float = MISSING

    def __post_init__(self) -> None:
        checks.positive("quote_amount", self.quote_amount)
        if self.every_bars is not None and not self.every_bars >= 1:
            raise checks.ConfigValueError("every_bars", self.every_bars, "must be null or >= 1")
        if self.drop_pct is not None and not 0 < self.drop_pct < 1:
            raise checks.ConfigValueError("drop_pct", self.drop_pct, "must be null or in (0, 1)")
        if self.every_bars is None and self.drop_pct is None:
            raise checks.ConfigValueError("drop_pct", None, "set drop_pct, every_bars or both")
        if not self.volume_multiplier >= 1:
            raise checks.ConfigValueError(
                "volume_multiplier", self.volume_multiplier, "must be >= 1"
            )
        checks.non_negative("max_safety_orders", self.max_safety_orders)
        if not 0 < self.take_profit_pct < 1:
            raise checks.ConfigValueError(
                "take_profit_pct", self.take_profit_pct, "must be in (0, 1)"
            )


@dataclass
class GridConfig:
    _target_: str = "thunes.strategy.grid.Grid"
    lower: float = MISSING
    upper: float = MISSING
    relative: bool = MISSING
    levels: int = MISSING
    spacing: str = MISSING
    quote_per_level: float = MISSING
    stop_below: float | None = MISSING
    take_profit_above: float | None = MISSING
    recenter_after: int | None = MISSING

    def __post_init__(self) -> None:
        if self.levels < 2:
            raise checks.ConfigValueError("levels", self.levels, "must be >= 2")
        if self.relative and not self.lower > -1:
            raise checks.ConfigValueError("lower", self.lower, "must be > -1 when relative")
        if not self.relative:
            checks.positive("lower", self.lower)
        if not self.lower < self.upper:
            raise checks.ConfigValueError("lower", self.lower, f"must be < upper ({self.upper})")
        checks.one_of("spacing", self.spacing, ("arithmetic", "geometric"))
        checks.positive("quote_per_level", self.quote_per_level)
        for key in ("stop_below", "take_profit_above"):
            value = getattr(self, key)
            if value is not None and not 0 < value < 1:
                raise checks.ConfigValueError(key, value, "null, or a fraction in (0, 1)")
        if self.recenter_after is None:
            return
        checks.positive("recenter_after", self.recenter_after)
        if not (self.relative and self.lower < 0 < self.upper):
            raise checks.ConfigValueError(
                "recenter_after",
                self.recenter_after,
                "null unless the bounds are relative and around the price (lower < 0 < upper)",
            )


@dataclass
class ScalperConfig:
    _target_: str = "thunes.strategy.scalper.Scalper"
    imbalance_threshold: float = MISSING
    take_profit_ticks: int = MISSING
    stop_loss_ticks: int = MISSING
    max_hold_ms: int = MISSING
    entry: str = MISSING
    quote_amount: float = MISSING
    cancel_after_ms: int = MISSING

    def __post_init__(self) -> None:
        if not 0 < self.imbalance_threshold <= 1:
            raise checks.ConfigValueError(
                "imbalance_threshold", self.imbalance_threshold, "must be in (0, 1]"
            )
        checks.one_of("entry", self.entry, ("maker", "taker"))
        for key in ("take_profit_ticks", "stop_loss_ticks", "max_hold_ms", "cancel_after_ms"):
            checks.positive(key, getattr(self, key))
        checks.positive("quote_amount", self.quote_amount)


@dataclass
class SimTicksDataConfig:
    _target_: str = "thunes.data.tick_sources.SimTickSource"
    seed: int = 7
    since: str = "2024-03-01"
    ticks: int = 1_000_000
    step_ms: int = 100

    def __post_init__(self) -> None:
        _check_date("since", self.since)
        checks.positive("ticks", self.ticks)
        if not (self.step_ms > 0 and 3_600_000 % self.step_ms == 0):
            raise checks.ConfigValueError("step_ms", self.step_ms, "must divide one hour (ms)")


@dataclass
class TickFileDataConfig:
    _target_: str = "thunes.data.tick_sources.FileTickSource"
    path: str = MISSING
    since: str | None = None
    until: str | None = None

    def __post_init__(self) -> None:
        if not self.path.endswith((".csv", ".parquet")):
            raise checks.ConfigValueError("path", self.path, "a .csv or .parquet file")
        _check_date("since", self.since)
        _check_date("until", self.until)


SCHEMAS: dict[str, type] = {
    "schema_root": ThunesConfig,
    "schema_exchange_sim": SimExchangeConfig,
    "schema_exchange_ccxt": CcxtExchangeConfig,
    "schema_symbol": MarketConfig,
    "schema_data_exchange": ExchangeDataConfig,
    "schema_data_sim": SimDataConfig,
    "schema_data_file": FileDataConfig,
    "schema_data_sim_ticks": SimTicksDataConfig,
    "schema_data_tick_file": TickFileDataConfig,
    "schema_strategy_sma_cross": SmaCrossConfig,
    "schema_strategy_grid": GridConfig,
    "schema_strategy_dca": DcaConfig,
    "schema_strategy_scalper": ScalperConfig,
    "schema_target_only": TargetOnly,
    "schema_sizing_fixed_quote": FixedQuoteSizingConfig,
    "schema_sizing_equity_fraction": EquityFractionSizingConfig,
    "schema_risk": RiskLimitsConfig,
    "schema_tracking_mlflow": MlflowTrackingConfig,
    "schema_notifier_apprise": AppriseNotifierConfig,
    "schema_notifier_telegram": TelegramNotifierConfig,
    "schema_mode": ModeConfig,
    "schema_drift_adwin": AdwinDriftConfig,
    "schema_drift_page_hinkley": PageHinkleyDriftConfig,
    "schema_drift_kswin": KswinDriftConfig,
    "schema_drift_ddm": DdmDriftConfig,
}


def register_schemas() -> None:
    """Store every schema at the root of the ConfigStore, where `--help` does not list it."""
    store = ConfigStore.instance()
    for name, node in SCHEMAS.items():
        store.store(name=name, node=node)
