"""The feed options shared by ``run`` and ``produce``: a replay or the simulator."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass

import click

from squall.cli import CliError

from .obd import Reading, read_fleet, trip_files
from .record import date_to_ms
from .sources import simulate

__all__ = ["feed_options", "Feed", "given_options"]

SIMULATED_S = 300


def feed_options(func):
    """``--replay DIR | --cars N [--seed S]``, ``--duration S``, ``--start DATE``."""
    for option in reversed([
        click.option("--replay", "replay_dir", type=click.Path(file_okay=False), default=None,
                     help="Replay the OBD-II trip CSVs of DIR as a fleet (one car per file)."),
        click.option("--cars", type=click.IntRange(1), default=100, show_default=True,
                     help="Simulated cars (when not replaying)."),
        click.option("--seed", type=int, default=42, show_default=True, help="Simulator seed."),
        click.option("--duration", "duration_s", type=click.IntRange(1), default=None,
                     help=f"Seconds of event time to produce [simulator default: {SIMULATED_S}; replay: all]."),
        click.option("--start", default="20240101000000", show_default=True,
                     help="Event time of second 0, yyyyMMddHHmmss (UTC)."),
    ]):
        func = option(func)
    return func


def given_options(*names: str) -> list[str]:
    """The options among ``names`` (parameter names) that the user gave on the command line.

    Defaults do not count, so a conflict is only reported for what the user typed.
    Returns the options' first flag (``--cars``), in the order of ``names``.
    """
    ctx = click.get_current_context()
    flags = {p.name: p.opts[0] for p in ctx.command.params}
    return [flags[n] for n in names
            if ctx.get_parameter_source(n) not in (None, click.core.ParameterSource.DEFAULT)]


@dataclass(frozen=True)
class Feed:
    """The chosen feed, validated: where it comes from and when it starts."""

    replay_dir: str | None
    cars: int
    seed: int
    duration_s: int | None
    start_ms: int

    @classmethod
    def from_options(cls, replay_dir, cars, seed, duration_s, start) -> Feed:
        """Raises CliError for a bad --start, a replay dir without trips, or simulator
        options given with --replay (two sources named at once)."""
        if replay_dir is not None and (extra := given_options("cars", "seed")):
            raise CliError(f"--replay and {' and '.join(extra)} name two sources: give --replay "
                           f"(real trips) or --cars/--seed (the simulator)")
        try:
            start_ms = date_to_ms(start)
        except ValueError as exc:
            raise CliError(f"--start: {exc}") from None
        if replay_dir is not None:
            try:
                trip_files(replay_dir)
            except FileNotFoundError as exc:
                raise CliError(f"--replay: {exc}") from None
        return cls(replay_dir, cars, seed, duration_s, start_ms)

    @property
    def description(self) -> str:
        if self.replay_dir is not None:
            return f"replay of {self.replay_dir}"
        return f"simulator, {self.cars} cars, {self.duration_s or SIMULATED_S} s of event time"

    def readings(self) -> Iterator[Reading]:
        if self.replay_dir is not None:
            return read_fleet(self.replay_dir, self.start_ms, self.duration_s)
        return simulate(self.cars, self.duration_s or SIMULATED_S, self.start_ms, self.seed)
