"""``squall sql``: run one SQL query over a stream and print its rows.

The command registers through the ``squall.commands`` entry-point group
(:mod:`squall.cli.plugins`) as ``sql = "squall.microbatch.cli:sql"``.

A source is ``[NAME=]KIND:TARGET[?key=value&...]``:

* ``csv:PATH``, ``jsonl:PATH`` (a PATH ending in ``.csv``, ``.jsonl``, ``.ndjson`` or
  ``.json`` may omit the kind): the file, in batches of ``--batch-rows`` rows;
* ``text:PATH`` (or a PATH ending in ``.txt``): the file's lines (column ``line``), in
  batches of ``--batch-rows`` lines;
* ``socket:HOST:PORT``: lines from a TCP server (column ``line``), batched every
  ``--batch-interval`` seconds; ``?max_retries=N`` reconnects;
* any kind a package adds in the ``squall.microbatch.sources`` entry-point group: the
  entry point names a callable, called as ``factory(TARGET, **params)`` with the
  ``?key=value`` parameters (integers and decimals converted). The smart-car example
  adds ``obd`` (``obd:examples/smartcar/data?start_ms=1704067200000``).

Without ``NAME=`` a source takes the name the query's ``FROM`` gives (one source only).
Each output row is one JSON object per line (``--format jsonl``) or a CSV row under one
header (``--format csv``), in the order of the select list. Late records (for windows
already emitted) are counted on stderr, or written as JSON lines to ``--late FILE``.
"""

from __future__ import annotations

import json
import re
import sys
from importlib.metadata import entry_points
from typing import Any

import click

from squall.cli import CliError

from .errors import MicroBatchError
from .socket_source import SocketSource
from .sources import Source
from .sql import CsvSource, JsonLinesSource, TextFileSource, compile_sql
from .sql import sql as compile_query

__all__ = ["SOURCE_ENTRY_POINT_GROUP", "open_source", "sql"]

SOURCE_ENTRY_POINT_GROUP = "squall.microbatch.sources"
"""Entry-point group of source kinds added by other packages (``obd`` from the smart-car example)."""

_FILE_KINDS = {".csv": "csv", ".jsonl": "jsonl", ".ndjson": "jsonl", ".json": "jsonl", ".txt": "text"}


def _value(text: str) -> Any:
    if re.fullmatch(r"[+-]?\d+", text):
        return int(text)
    if re.fullmatch(r"[+-]?(\d+\.\d*|\.\d+)([eE][+-]?\d+)?", text):
        return float(text)
    return text


def open_source(spec: str, *, batch_rows: int = 65_536, batch_interval_s: float = 1.0) -> Source:
    """The source a ``KIND:TARGET[?key=value&...]`` spec names (see the module doc).

    Raises:
        CliError: an unknown kind, a malformed spec, or a factory that rejects its
            parameters; the message names the spec.
    """
    body, _, query = spec.partition("?")
    params: dict[str, Any] = {}
    for part in filter(None, query.split("&")):
        key, eq, val = part.partition("=")
        if not eq or not key:
            raise CliError(f"--source {spec!r}: parameter {part!r} is not key=value")
        params[key] = _value(val)
    kind, colon, target = body.partition(":")
    if not colon:
        suffix = next((s for s in _FILE_KINDS if body.lower().endswith(s)), None)
        if suffix is None:
            raise CliError(f"--source {spec!r}: expected KIND:TARGET (csv:, jsonl:, text:, socket:HOST:PORT, or a "
                           f"plug-in kind) or a .csv/.jsonl/.txt file")
        kind, target = _FILE_KINDS[suffix], body
    try:
        if kind == "csv":
            return CsvSource(target, **{"batch_rows": batch_rows, **params})
        if kind == "jsonl":
            return JsonLinesSource(target, **{"batch_rows": batch_rows, **params})
        if kind == "text":
            return TextFileSource(target, **{"batch_lines": batch_rows, **params})
        if kind == "socket":
            host, _, port = target.rpartition(":")
            if not host or not port.isdigit():
                raise CliError(f"--source {spec!r}: expected socket:HOST:PORT")
            return SocketSource(host, int(port), **{"batch_interval_s": batch_interval_s, **params})
        plugins = {ep.name: ep for ep in entry_points(group=SOURCE_ENTRY_POINT_GROUP)}
        ep = plugins.get(kind)
        if ep is None:
            known = ", ".join(sorted({"csv", "jsonl", "text", "socket", *plugins}))
            raise CliError(f"--source {spec!r}: unknown kind {kind!r} (known: {known})")
        try:
            factory = ep.load()
        except Exception as exc:  # a plug-in's import can raise anything; one line says which
            raise CliError(f"--source {spec!r}: cannot load {ep.value} ({type(exc).__name__}: {exc})") from exc
        return factory(target, **params)
    except TypeError as exc:
        raise CliError(f"--source {spec!r}: {exc} (parameters go as ?key=value&...)") from exc
    except MicroBatchError as exc:
        raise CliError(f"--source {spec!r}: {exc}") from exc


def _write(batch: Any, fmt: str, first: list[bool]) -> None:
    out = sys.stdout
    if fmt == "csv":
        out.write(batch.write_csv(include_header=first[0]))
    else:
        out.write(batch.write_ndjson())
    first[0] = False
    out.flush()


@click.command()
@click.argument("query")
@click.option("--source", "source_specs", multiple=True, required=True, metavar="[NAME=]KIND:TARGET",
              help="A source: csv:PATH, jsonl:PATH, text:PATH, socket:HOST:PORT, or a plug-in kind such as "
                   "obd:DIR?start_ms=MS; NAME= binds it to the query's FROM name (optional with one source).")
@click.option("--output-mode", type=click.Choice(["append", "update"]), default="append", show_default=True,
              help="append: a window's rows once, when the watermark passes its end (keys without a window: at "
                   "the end of input); update: the changed rows after each batch.")
@click.option("--watermark-delay-ms", type=click.IntRange(min=0), default=0, show_default=True,
              help="How late a record may come: the watermark is the largest event time seen minus this.")
@click.option("--format", "fmt", type=click.Choice(["jsonl", "csv"]), default="jsonl", show_default=True,
              help="Output rows as JSON lines or CSV (one header).")
@click.option("--batch-rows", type=click.IntRange(min=1), default=65_536, show_default=True,
              help="Rows (lines) per micro-batch for file sources.")
@click.option("--batch-interval", "batch_interval_s", type=click.FloatRange(min=0, min_open=True), default=1.0,
              show_default=True, help="Seconds per micro-batch for socket sources.")
@click.option("--late", "late_file", type=click.File("w", encoding="utf-8"), default=None,
              help="Write late records (JSON lines, with their window) to this file.")
def sql(query, source_specs, output_mode, watermark_delay_ms, fmt, batch_rows, batch_interval_s, late_file):
    """Run a SQL query over a stream (Flink's TUMBLE/HOP or Spark's window()) and print its rows.

    QUERY is one SELECT over the stream named in FROM, e.g.

    \b
      squall sql "SELECT car_number, TUMBLE_START(event_time_ms, INTERVAL '30' SECOND) AS ws,
                  AVG(speed) AS avg_speed FROM obd
                  GROUP BY TUMBLE(event_time_ms, INTERVAL '30' SECOND), car_number
                  HAVING AVG(speed) > 80" --source obd=obd:examples/smartcar/data?start_ms=1704067200000

    Rows go to stdout; an unsupported query or source is one error line, exit code 2.
    """
    try:
        compiled = compile_sql(query, watermark_delay=watermark_delay_ms)
    except MicroBatchError as exc:
        raise CliError(str(exc)) from exc
    sources: dict[str, Source] = {}
    for spec in source_specs:
        name, eq, rest = spec.partition("=")
        if eq and re.fullmatch(r"[A-Za-z_][A-Za-z0-9_]*", name):
            spec = rest
        else:
            if len(source_specs) > 1:
                raise CliError(f"--source {spec!r}: with several sources, name each one (NAME=KIND:TARGET)")
            name = compiled.table
        if name in sources:
            raise CliError(f"--source {name}: given twice")
        sources[name] = open_source(spec, batch_rows=batch_rows, batch_interval_s=batch_interval_s)
    first = [True]
    try:
        frame = compile_query(query, sources, watermark_delay=watermark_delay_ms)
        running = frame.write_stream(lambda batch, _: _write(batch, fmt, first), output_mode=output_mode)
        running.run()
    except MicroBatchError as exc:
        raise CliError(str(exc)) from exc
    except (FileNotFoundError, IsADirectoryError) as exc:
        raise CliError(str(exc)) from exc
    late = running.late.frame()
    if late.height:
        if late_file is not None:
            late_file.write(late.write_ndjson())
        else:
            click.echo(f"squall sql: {late.height} late window assignments were left out of the output "
                       f"(--late FILE keeps them; --watermark-delay-ms admits them)", err=True)
    if first[0] and fmt == "csv" and compiled.columns:
        # No row came: still print the header, so a reader sees the columns.
        click.echo(",".join(json.dumps(c) if "," in c else c for c in compiled.columns))
