"""The project's own exception tree; the CLI maps each branch to one exit code."""


def one_line(error: BaseException) -> str:
    """A library's (often multi-line) message folded onto one line, for our own errors."""
    return " ".join(str(error).split()) or type(error).__name__


def interrupted(error: BaseException) -> bool:
    """Ctrl-C, or the exit the CLI turns it into inside a job (SystemExit 130)."""
    return isinstance(error, (KeyboardInterrupt, SystemExit))


class ThunesError(Exception):
    """Base of every error THUNES raises on purpose."""


class ConfigError(ThunesError):
    """A config value is wrong; raised before any data, order or network call."""


class DataError(ThunesError):
    """Market data is missing, malformed or fails validation."""


class ExchangeError(ThunesError):
    """The exchange refused or failed a request after retries."""


class NotBuiltError(ThunesError):
    """A mode or component that a later issue builds."""
