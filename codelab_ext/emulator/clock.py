"""The emulator's one clock: real wall time for timestamps, scaled time for the state machine.

Two readings come from the same object so that every part of the emulator agrees:

* :meth:`Clock.now_ms` is the wall clock (UTC epoch milliseconds). Every timestamp the emulator
  answers (``create_at``, ``update_at``, lease fields), the signature date check and token expiry use
  it, so a real client that compares them with its own clock sees consistent values at any speed.
* :meth:`Clock.emulated` is a monotonic "emulated seconds" reading that runs ``speed`` times faster than
  real time (``speed`` 0 freezes it; :meth:`Clock.advance` moves it by hand). How long the start-up
  steps and the stop take is measured on it, which is what the speed factor speeds up.

Lease expiry is wall-clock based (a lease is a contract expressed in epoch milliseconds); tests
shorten a lease through the admin route instead of speeding the wall clock up.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable

__all__ = ["Clock"]


class Clock:
    """Wall clock plus a speed-scaled emulated clock (thread safe).

    ``wall`` and ``monotonic`` are injectable (seconds, like :func:`time.time` and
    :func:`time.monotonic`) so unit tests can drive the clock by hand.
    """

    def __init__(
        self,
        speed: float = 1.0,
        *,
        wall: Callable[[], float] = time.time,
        monotonic: Callable[[], float] = time.monotonic,
    ) -> None:
        self._wall = wall
        self._monotonic = monotonic
        self._lock = threading.Lock()
        self._speed = self._check_speed(speed)
        self._anchor_real = monotonic()
        self._anchor_emulated = 0.0

    @staticmethod
    def _check_speed(speed: float) -> float:
        value = float(speed)
        if not value >= 0 or value == float("inf"):
            raise ValueError(f"speed must be a finite number >= 0, got {speed!r}")
        return value

    @property
    def speed(self) -> float:
        """How many emulated seconds pass per real second (0: frozen)."""
        return self._speed

    def set_speed(self, speed: float) -> None:
        """Change the speed from now on; emulated time already elapsed is kept."""
        value = self._check_speed(speed)
        with self._lock:
            self._reanchor()
            self._speed = value

    def advance(self, seconds: float) -> None:
        """Move emulated time forward by ``seconds`` (at any speed, including 0)."""
        if not float(seconds) >= 0:
            raise ValueError(f"cannot move the emulated clock backwards ({seconds!r})")
        with self._lock:
            self._reanchor()
            self._anchor_emulated += float(seconds)

    def emulated(self) -> float:
        """Emulated seconds since the clock was made (monotonic, scaled by ``speed``)."""
        with self._lock:
            return self._anchor_emulated + (self._monotonic() - self._anchor_real) * self._speed

    def now(self) -> float:
        """Wall clock, epoch seconds."""
        return self._wall()

    def now_ms(self) -> int:
        """Wall clock, UTC epoch milliseconds (the unit of every time field ModelArts answers)."""
        return int(self._wall() * 1000)

    def wall_ms_at(self, emulated_at: float) -> int:
        """Best estimate of the wall time (epoch ms) at which emulated time was ``emulated_at``.

        Used to date a transition that happened between two requests. Never later than now; with a
        frozen clock (speed 0) the transition is dated now.
        """
        now_ms = self.now_ms()
        lag = self.emulated() - emulated_at
        if lag <= 0 or self._speed <= 0:
            return now_ms
        return now_ms - int(lag / self._speed * 1000)

    def _reanchor(self) -> None:
        real = self._monotonic()
        self._anchor_emulated += (real - self._anchor_real) * self._speed
        self._anchor_real = real
