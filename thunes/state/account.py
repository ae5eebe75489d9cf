"""Which account a state file and a lock belong to: the exchange, the account's name in the
config, the mode, and a fingerprint of its API key (never the key itself)."""

from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass
from pathlib import Path

KEYLESS = "keyless"  # paper on public data, the simulator: no key, one fingerprint
_NAME = re.compile(r"[^A-Za-z0-9_.-]")


def fingerprint(api_key: str | None) -> str:
    """A short hash that tells two keys apart and gives neither away."""
    if not api_key:
        return KEYLESS
    return hashlib.sha256(api_key.encode()).hexdigest()[:16]


@dataclass(frozen=True, slots=True)
class Account:
    exchange: str
    name: str
    mode: str
    fingerprint: str

    @classmethod
    def of(cls, exchange: str, name: str, mode: str, api_key: str | None) -> Account:
        """The account a run trades on; the key is hashed here and goes no further."""
        return cls(exchange, name, mode, fingerprint(api_key))

    @property
    def stem(self) -> str:
        """`<exchange>-<account>-<mode>`, safe as a file name."""
        return "-".join(_NAME.sub("_", part) for part in (self.exchange, self.name, self.mode))

    def state_path(self, directory: Path) -> Path:
        return directory / f"{self.stem}.sqlite"

    def lock_path(self, directory: Path) -> Path:
        return directory / f"{self.stem}.lock"

    def __str__(self) -> str:
        return f"{self.exchange} account {self.name!r} (key {self.fingerprint}), mode {self.mode}"
