"""Tests for the ``squall`` command (squall.cli)."""

from __future__ import annotations

import subprocess
import sys
import time

import click
import pytest
from click.testing import CliRunner

import squall
from squall.cli import data_dir_option, default_data_dir, main
from squall.store import EmbeddedTableStore
from tests.reference_data import SAMPLE
from tests.store.holder import StoreHolder


@pytest.fixture
def runner():
    return CliRunner()


@pytest.fixture
def data_dir(tmp_path):
    return tmp_path / "data"


@pytest.fixture
def sq(runner, data_dir):
    """Run ``squall ARGS --data-dir <tmp>``; returns the click Result."""
    def run(*args, data=True):
        argv = [*args, "--data-dir", str(data_dir)] if data else list(args)
        return runner.invoke(main, argv, catch_exceptions=False)
    return run


@pytest.fixture
def records(sq):
    assert sq("table", "create", "records", "info", "drive").exit_code == 0
    for row, cells in [("car7#001", ["info:car=car7", "drive:speed=81.5", "drive:rpm=2100"]),
                       ("car7#002", ["info:car=car7", "drive:speed=90"]),
                       ("car9#001", ["info:car=car9", "drive:speed=40"])]:
        res = sq("table", "put", "records", row, *cells)
        assert res.exit_code == 0, res.output
    return "records"


def test_version_and_help(runner):
    res = runner.invoke(main, ["--version"])
    assert res.exit_code == 0 and squall.__version__ in res.stdout
    res = runner.invoke(main, ["--help"])
    assert res.exit_code == 0 and "table" in res.stdout and "kv" in res.stdout


def test_put_get_scan_count_round_trip(sq, records):
    res = sq("table", "get", records, "car7#001")
    assert res.exit_code == 0
    assert res.stdout.splitlines() == ["drive:rpm=2100", "drive:speed=81.5", "info:car=car7"]

    res = sq("table", "scan", records)
    assert res.exit_code == 0
    assert res.stdout.splitlines() == [
        "car7#001  drive:rpm=2100 drive:speed=81.5 info:car=car7",
        "car7#002  drive:speed=90 info:car=car7",
        "car9#001  drive:speed=40 info:car=car9",
        "3 row(s)",
    ]
    assert sq("table", "count", records).stdout == "3\n"

    # put keeps the row's other columns and overwrites the named one
    assert sq("table", "put", records, "car7#002", "drive:speed=95").exit_code == 0
    assert sq("table", "get", records, "car7#002").stdout.splitlines() == [
        "drive:speed=95", "info:car=car7"]
    assert sq("table", "count", records).stdout == "3\n"


def test_count_prints_only_the_number_as_last_line(sq, records):
    res = sq("table", "count", records)
    assert res.exit_code == 0
    assert res.stdout.splitlines()[-1] == "3"
    assert res.stdout.strip() == "3"


def test_column_filters(sq, records):
    res = sq("table", "get", records, "car7#001", "--columns", "info:car,drive:rpm")
    assert res.stdout.splitlines() == ["drive:rpm=2100", "info:car=car7"]
    res = sq("table", "get", records, "car7#001", "--columns", "drive")
    assert res.stdout.splitlines() == ["drive:rpm=2100", "drive:speed=81.5"]
    res = sq("table", "scan", records, "--columns", "drive:rpm")
    assert res.stdout.splitlines() == ["car7#001  drive:rpm=2100", "1 row(s)"]


def test_get_row_lacking_the_selected_columns_exits_1(sq, records):
    res = sq("table", "get", records, "car9#001", "--columns", "drive:rpm")
    assert res.exit_code == 1
    assert res.stdout == ""
    assert "none of the columns" in res.stderr


def test_prefix_start_stop_limit_scan(sq, records):
    res = sq("table", "scan", records, "--prefix", "car7#")
    assert [line.split()[0] for line in res.stdout.splitlines()[:-1]] == ["car7#001", "car7#002"]
    assert res.stdout.splitlines()[-1] == "2 row(s)"
    res = sq("table", "scan", records, "--start", "car7#002", "--stop", "car9#001")
    assert res.stdout.splitlines() == ["car7#002  drive:speed=90 info:car=car7", "1 row(s)"]
    res = sq("table", "scan", records, "--limit", "1")
    assert res.stdout.splitlines()[-1] == "1 row(s)"
    res = sq("table", "scan", records, "--prefix", "nope")
    assert res.stdout == "0 row(s)\n"


def test_prefix_with_start_is_a_store_error(sq, records):
    res = sq("table", "scan", records, "--prefix", "car7", "--start", "car7#002")
    assert res.exit_code == 2
    assert res.stderr.startswith("squall: error: ") and "row_prefix" in res.stderr


def test_missing_row_exits_1_with_message_on_stderr(sq, records):
    res = sq("table", "get", records, "car1#999")
    assert res.exit_code == 1
    assert res.stdout == ""
    assert "car1#999" in res.stderr and "not found" in res.stderr


def test_unknown_table_exits_2_and_lists_tables(sq, records):
    sq("table", "create", "alerts", "a")
    for args in [("scan", "nope"), ("get", "nope", "r"), ("count", "nope"),
                 ("put", "nope", "r", "a:b=c"), ("delete", "nope", "r")]:
        res = sq("table", *args)
        assert res.exit_code == 2, args
        assert res.stdout == ""
        lines = res.stderr.splitlines()
        assert len(lines) == 1 and lines[0].startswith("squall: error: ")
        assert "'nope' does not exist" in lines[0]
        assert "alerts, records" in lines[0]
        assert "Traceback" not in res.output


def test_unknown_family_exits_2(sq, records):
    res = sq("table", "put", records, "r", "nofam:q=1")
    assert res.exit_code == 2
    assert res.stderr.startswith("squall: error: column family 'nofam'")
    assert sq("table", "scan", records, "--columns", "nofam").exit_code == 2
    assert sq("table", "count", records).stdout == "3\n"  # nothing was written


def test_put_argument_must_be_column_equals_value(sq, records):
    res = sq("table", "put", records, "r", "info:car")
    assert res.exit_code == 2
    assert "info:car" in res.stderr


def test_list_create_delete(sq, records):
    assert sq("table", "list").stdout == "records\n"
    assert sq("table", "create", "alerts", "a", "b").exit_code == 0
    assert sq("table", "list").stdout == "alerts\nrecords\n"
    res = sq("table", "create", "alerts", "a")
    assert res.exit_code == 2 and "already exists" in res.stderr

    assert sq("table", "delete", records, "car7#001", "--columns", "drive:rpm").exit_code == 0
    assert sq("table", "get", records, "car7#001").stdout.splitlines() == [
        "drive:speed=81.5", "info:car=car7"]
    assert sq("table", "delete", records, "car7#001").exit_code == 0
    assert sq("table", "get", records, "car7#001").exit_code == 1
    assert sq("table", "count", records).stdout == "2\n"
    assert sq("table", "delete", records, "absent").exit_code == 0


def test_values_not_printable_as_text_show_as_bytes_repr(sq, records, data_dir):
    with EmbeddedTableStore(data_dir).open() as store:
        store.open_table(records).put("bin", {"info:raw": b"\xff\x00", "info:nl": "a\nb",
                                              "info:txt": "km/h é"})
    res = sq("table", "get", records, "bin")
    assert res.stdout.splitlines() == ["info:nl=b'a\\nb'", "info:raw=b'\\xff\\x00'", "info:txt=km/h é"]
    res = sq("table", "scan", records, "--prefix", "bin")
    assert len(res.stdout.splitlines()) == 2  # one line for the row, however odd its values


def test_read_only_commands_do_not_create_the_data_dir(sq, data_dir):
    for args in [("table", "scan", "t"), ("table", "get", "t", "r"), ("table", "count", "t"),
                 ("table", "list"), ("table", "put", "t", "r", "f:q=1"),
                 ("kv", "smembers", "k"), ("kv", "ttl", "k"), ("kv", "get", "k"), ("kv", "keys")]:
        res = sq(*args)
        assert res.exit_code == 2, args
        assert res.stderr.startswith("squall: error: data directory") and "does not exist" in res.stderr
        assert not data_dir.exists(), args


def test_read_only_commands_do_not_create_stores_in_an_existing_data_dir(sq, data_dir):
    data_dir.mkdir()
    res = sq("table", "count", "t")
    assert res.exit_code == 2 and "'t' does not exist" in res.stderr and "tables: none" in res.stderr
    assert sq("table", "list").stdout == ""
    assert sq("kv", "smembers", "k").stdout == ""
    assert sq("kv", "ttl", "k").stdout == "-2\n"
    assert sq("kv", "keys").stdout == ""
    assert sq("kv", "get", "k").exit_code == 1
    assert list(data_dir.iterdir()) == []


def test_kv_sadd_smembers_expire_ttl_round_trip(sq):
    assert sq("kv", "sadd", "speeding:2024-05-01", "car9", "car7", "car7").stdout == "2\n"
    assert sq("kv", "sadd", "speeding:2024-05-01", "car3").stdout == "1\n"
    assert sq("kv", "smembers", "speeding:2024-05-01").stdout == "car3\ncar7\ncar9\n"
    assert sq("kv", "ttl", "speeding:2024-05-01").stdout == "-1\n"
    assert sq("kv", "expire", "speeding:2024-05-01", "3600").stdout == "1\n"
    ttl = int(sq("kv", "ttl", "speeding:2024-05-01").stdout)
    assert 3590 <= ttl <= 3600
    assert sq("kv", "ttl", "absent").stdout == "-2\n"
    assert sq("kv", "expire", "absent", "10").stdout == "0\n"
    assert sq("kv", "smembers", "absent").stdout == ""


def test_kv_expire_non_positive_deletes(sq):
    sq("kv", "sadd", "s", "a")
    assert sq("kv", "expire", "s", "0").stdout == "1\n"
    assert sq("kv", "smembers", "s").stdout == ""
    assert sq("kv", "ttl", "s").stdout == "-2\n"


def test_kv_set_get_keys(sq):
    assert sq("kv", "set", "last:car7", "81.5").stdout == "OK\n"
    assert sq("kv", "get", "last:car7").stdout == "81.5\n"
    assert sq("kv", "ttl", "last:car7").stdout == "-1\n"
    assert sq("kv", "set", "last:car9", "40", "--ex", "60").exit_code == 0
    assert 55 <= int(sq("kv", "ttl", "last:car9").stdout) <= 60
    sq("kv", "sadd", "speeding:x", "car7")
    assert sq("kv", "keys").stdout == "last:car7\nlast:car9\nspeeding:x\n"
    assert sq("kv", "keys", "last:*").stdout == "last:car7\nlast:car9\n"
    res = sq("kv", "get", "absent")
    assert res.exit_code == 1 and "absent" in res.stderr and res.stdout == ""
    assert sq("kv", "set", "k", "v", "--ex", "0").exit_code == 2  # usage error


def test_kv_wrong_type_exits_2(sq):
    sq("kv", "set", "s", "v")
    res = sq("kv", "smembers", "s")
    assert res.exit_code == 2
    assert res.stderr.startswith("squall: error: WRONGTYPE")
    assert len(res.stderr.splitlines()) == 1
    sq("kv", "sadd", "set", "m")
    assert sq("kv", "get", "set").exit_code == 2
    assert sq("kv", "sadd", "s", "m").exit_code == 2


def test_data_dir_defaults_to_env_then_squall_data(runner, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv("SQUALL_DATA_DIR", raising=False)
    assert str(default_data_dir()) == "squall-data"
    res = runner.invoke(main, ["table", "list"])
    assert res.exit_code == 2 and "'squall-data' does not exist" in res.stderr
    assert "SQUALL_DATA_DIR" in res.stderr
    assert runner.invoke(main, ["kv", "set", "k", "v"]).exit_code == 0
    assert (tmp_path / "squall-data" / "kv").is_dir()

    monkeypatch.setenv("SQUALL_DATA_DIR", str(tmp_path / "env"))
    assert default_data_dir() == tmp_path / "env"
    assert runner.invoke(main, ["kv", "set", "k", "other"]).exit_code == 0
    assert (tmp_path / "env" / "kv").is_dir()
    assert runner.invoke(main, ["kv", "get", "k"]).stdout == "other\n"
    # an explicit --data-dir wins over the environment
    res = runner.invoke(main, ["kv", "get", "k", "--data-dir", str(tmp_path / "squall-data")])
    assert res.stdout == "v\n"


def test_data_dir_option_is_reusable(runner, tmp_path, monkeypatch):
    @click.command()
    @data_dir_option
    def where(data_dir):
        click.echo(repr(data_dir))

    monkeypatch.setenv("SQUALL_DATA_DIR", str(tmp_path))
    assert runner.invoke(where, []).stdout == repr(tmp_path) + "\n"
    assert runner.invoke(where, ["--data-dir", "x"]).stdout == repr(type(tmp_path)("x")) + "\n"


def test_reads_work_and_writes_are_refused_while_another_process_holds_the_stores(sq, records, data_dir):
    sq("kv", "sadd", "day", "car7")
    with StoreHolder(data_dir) as holder:
        assert sq("table", "count", records).stdout == "3\n"
        holder("tables.open_table('records').put('car9#002', {'info:car': 'car9'}); kv.sadd('day', 'car9')")
        assert sq("table", "count", records).stdout == "4\n"
        assert sq("table", "get", records, "car9#002").stdout == "info:car=car9\n"
        assert sq("table", "scan", records, "--prefix", "car9").stdout.splitlines()[-1] == "2 row(s)"
        assert sq("table", "list").stdout == "records\n"
        assert sq("kv", "smembers", "day").stdout == "car7\ncar9\n"
        assert sq("kv", "keys").stdout == "day\n" and sq("kv", "ttl", "day").stdout == "-1\n"
        for args, command, readers in [
                (("table", "put", records, "r", "info:car=x"), "squall table put", "squall table list|scan"),
                (("table", "delete", records, "car7#001"), "squall table delete", "squall table list|scan"),
                (("table", "create", "other", "f"), "squall table create", "squall table list|scan"),
                (("kv", "sadd", "day", "car1"), "squall kv sadd", "squall kv get|smembers"),
                (("kv", "set", "k", "v"), "squall kv set", "squall kv get|smembers"),
                (("kv", "expire", "day", "60"), "squall kv expire", "squall kv get|smembers")]:
            res = sq(*args)
            assert res.exit_code == 2, args
            assert res.stderr.startswith("squall: error: store at ") and len(res.stderr.splitlines()) == 1
            assert "locked by another process" in res.stderr and f"stop it before `{command}`" in res.stderr
            assert readers in res.stderr, res.stderr
    assert sq("table", "count", records).stdout == "4\n"
    assert sq("kv", "smembers", "day").stdout == "car7\ncar9\n"


def test_verbose_flag_sets_logging_level(runner, records, data_dir):
    import logging
    res = runner.invoke(main, ["-vv", "table", "count", records, "--data-dir", str(data_dir)])
    assert res.exit_code == 0 and res.stdout == "3\n"
    assert logging.getLogger().level == logging.DEBUG
    runner.invoke(main, ["table", "count", records, "--data-dir", str(data_dir)])
    assert logging.getLogger().level == logging.WARNING


def test_store_errors_from_any_registered_group_become_one_line(runner):
    from squall.store import StoreLockedError

    @click.group("extra")
    def extra():
        pass

    @extra.command("boom")
    def boom():
        raise StoreLockedError("/some/dir/kv")

    main.add_command(extra)
    try:
        res = runner.invoke(main, ["extra", "boom"])
    finally:
        del main.commands["extra"]
    assert res.exit_code == 2
    assert res.stderr == ("squall: error: store at /some/dir/kv is locked by another process; RocksDB "
                          "allows one writing process per data directory - stop that process, give this "
                          "one its own data_dir, or open the store with read_only=True to read it\n")


SPEEDING_RULE = """SELECT carNumber, avg(speed) AS avgSpeed, count(*) AS events
FROM DriverCarInfo#time_batch(10 sec) GROUP BY carNumber HAVING avg(speed) > 40"""


@pytest.mark.slow
def test_store_commands_read_a_running_pipeline_as_it_writes(runner, tmp_path):
    """The real pipeline in a subprocess holds the stores; the reading commands watch them grow."""
    data = tmp_path / "data"
    (tmp_path / "rule.epl").write_text(SPEEDING_RULE)
    pipeline = subprocess.Popen(
        [sys.executable, "-m", "squall", "smartcar", "run", "--replay", str(SAMPLE), "--pace", "50",
         "--rule", str(tmp_path / "rule.epl"), "--data-dir", str(data)],
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)

    def sq(*args):
        return runner.invoke(main, [*args, "--data-dir", str(data)], catch_exceptions=False)

    day = "20240101"  # the replay's default --start
    counts: list[int] = []
    sets: list[list[str]] = []
    try:
        # The run lasts about half a minute (1,635 s of trips at 50x); sample until the
        # table has grown twice and a speeding set exists, all while it still runs.
        while pipeline.poll() is None and (len(set(counts)) < 3 or not sets or not sets[-1]):
            res = sq("table", "count", "DriverCarInfo")
            if res.exit_code == 0:  # before the pipeline made the table: exit 2, try again
                counts.append(int(res.stdout))
                sets.append(sq("kv", "smembers", day).stdout.splitlines())
            time.sleep(0.3)
        assert pipeline.poll() is None, "the pipeline ended before the readers saw it grow"
        assert counts == sorted(counts) and len(set(counts)) >= 3, counts
        assert all(set(a) <= set(b) for a, b in zip(sets, sets[1:])), sets

        scan = sq("table", "scan", "DriverCarInfo", "--limit", "3")
        assert scan.exit_code == 0 and scan.stdout.splitlines()[-1] == "3 row(s)"
        assert all("cf1:" in line for line in scan.stdout.splitlines()[:3])
        ttl = int(sq("kv", "ttl", day).stdout)
        assert 604_700 < ttl <= 604_800  # --speeding-ttl's default, set at each detection
        listed = runner.invoke(main, ["smartcar", "speeding", "--date", day, "--data-dir", str(data)])
        assert listed.exit_code == 0 and set(sets[-1]) <= set(listed.stdout.splitlines())
        assert int(sq("table", "count", "DriverCarInfo").stdout) >= counts[-1]

        refused = sq("kv", "sadd", day, "intruder")
        assert refused.exit_code == 2 and "locked by another process" in refused.stderr
        assert "stop it before `squall kv sadd`" in refused.stderr and "squall kv get|smembers" in refused.stderr
        assert pipeline.poll() is None, "the refusal must have come from the running pipeline's lock"
    finally:
        pipeline.kill()
        pipeline.wait()
    assert "intruder" not in sq("kv", "smembers", day).stdout
