"""Notifiers: the bot's voice. Every part of THUNES that has something to tell calls
`publish(Event(...))` (thunes/notify/events.py lists the kinds); a notifier decides where it
goes. Publishing never blocks and never raises: trading goes on whatever the services do."""

from __future__ import annotations

from typing import Protocol

from rich.console import Console

from thunes.notify.channel import Counts
from thunes.notify.events import CATALOGUE, Event, Policy


class Notifier(Protocol):
    def publish(self, event: Event) -> None:
        """Tell `event`; returns at once."""
        ...

    def close(self, timeout_s: float | None = None) -> None:
        """Deliver what is pending, within `timeout_s` (None: the notifier's own bound)."""
        ...

    def counts(self) -> dict[str, Counts]:
        """By channel: events queued, delivered, dropped, failed (for metrics)."""
        ...


class NullNotifier:
    """Says nothing."""

    def publish(self, event: Event) -> None:
        pass

    def close(self, timeout_s: float | None = None) -> None:
        pass

    def counts(self) -> dict[str, Counts]:
        return {}


class ConsoleNotifier:
    """Prints to the terminal (stderr, so stdout stays clean for `--cfg` and pipes) what
    the catalogue sends aloud."""

    def __init__(self) -> None:
        self._console = Console(stderr=True)

    def publish(self, event: Event) -> None:
        if CATALOGUE[event.kind].policy is Policy.ON:  # silent: not worth a line
            self._console.print(f"[bold]{event.title}[/bold]: {event.text}", highlight=False)

    def close(self, timeout_s: float | None = None) -> None:
        pass

    def counts(self) -> dict[str, Counts]:
        return {}
