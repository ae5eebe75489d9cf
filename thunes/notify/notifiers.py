"""Notifiers: the bot's voice. Apprise-backed delivery arrives with paper and live modes."""

from __future__ import annotations

from typing import Protocol

from rich.console import Console


class Notifier(Protocol):
    def notify(self, title: str, body: str) -> bool: ...


class NullNotifier:
    """Says nothing."""

    def notify(self, title: str, body: str) -> bool:
        return True


class ConsoleNotifier:
    """Prints to the terminal (stderr, so stdout stays clean for `--cfg` and pipes)."""

    def __init__(self) -> None:
        self._console = Console(stderr=True)

    def notify(self, title: str, body: str) -> bool:
        self._console.print(f"[bold]{title}[/bold]: {body}")
        return True
