"""Reconnect delays: exponential backoff with jitter, reset after a good connection."""

from __future__ import annotations

import random
from dataclasses import dataclass, field


@dataclass
class Backoff:
    """Delays of base·2^n capped at `cap`, each drawn from [d/2, d] ("equal jitter").

    The jitter spreads the reconnects of many clients after a server restart; keeping half
    the delay fixed stops a client from hammering a server that is down.
    """

    base: float = 0.5
    cap: float = 30.0
    rng: random.Random = field(default_factory=random.Random)
    attempt: int = 0

    def next_delay(self) -> float:
        """The delay before the next attempt (grows with each call)."""
        delay = min(self.cap, self.base * 2**self.attempt)
        self.attempt = min(self.attempt + 1, 30)
        return float(delay / 2 + self.rng.uniform(0, delay / 2))

    def reset(self) -> None:
        """Start over from `base` (after a connection that synced)."""
        self.attempt = 0
