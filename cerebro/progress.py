"""Progress reporting and cancellation shared by the CLI (tqdm), Slicer (progress dialog) and tests."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

from cerebro.errors import Cancelled

ProgressFn = Callable[[float, str], None]


@dataclass
class Progress:
    """Reports a fraction done in [0, 1] with a message, and lets the caller cancel.

    ``on_update(fraction, message)`` is called on every update; ``is_cancelled()`` is polled at each
    update, and a True answer raises :class:`~cerebro.errors.Cancelled` inside the worker. ``on_log(message)``
    receives milestones (e.g. one line per finished benchmark record), what a log file without a progress bar
    shows.
    """

    on_update: ProgressFn | None = None
    is_cancelled: Callable[[], bool] | None = None
    on_log: Callable[[str], None] | None = None
    _cancel_requested: bool = field(default=False, repr=False)

    def update(self, fraction: float, message: str = "") -> None:
        """Report progress; raises Cancelled if cancellation was requested."""
        if self.on_update is not None:
            self.on_update(min(max(fraction, 0.0), 1.0), message)
        self.check_cancelled()

    def log(self, message: str) -> None:
        """Report a milestone (one short line), passed up to the outermost Progress."""
        if self.on_log is not None:
            self.on_log(message)

    def cancel(self) -> None:
        """Request cancellation; the worker stops at its next update."""
        self._cancel_requested = True

    def check_cancelled(self) -> None:
        """Raise Cancelled if the user asked to stop."""
        if self._cancel_requested or (self.is_cancelled is not None and self.is_cancelled()):
            raise Cancelled("cancelled by the user")

    def sub(self, start: float, stop: float) -> Progress:
        """A Progress that maps its own [0, 1] onto [start, stop] of this one (for nested steps)."""
        parent = self

        def forward(fraction: float, message: str) -> None:
            parent.update(start + (stop - start) * fraction, message)

        return Progress(on_update=forward, is_cancelled=lambda: parent._cancel_requested
                        or (parent.is_cancelled is not None and parent.is_cancelled()), on_log=parent.log)


def time_left(elapsed: float, done: float, total: float) -> str:
    """``"about 3 min left"``: the rest of ``total`` steps at the pace of the ``done`` ones, which took ``elapsed``
    seconds ("" before the first step and after the last)."""
    if done <= 0 or done >= total:
        return ""
    seconds = elapsed / done * (total - done)
    amount = (f"{seconds:.0f} s" if seconds < 90 else f"{seconds / 60:.0f} min" if seconds < 5400
              else f"{seconds / 3600:.1f} h")
    return f"about {amount} left"
