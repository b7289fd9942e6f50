"""squall collect: lines from a tailed file or a spooling directory into a real Kafka topic."""

import time

from click.testing import CliRunner

from squall.cli import main


def collect(*args):
    result = CliRunner().invoke(main, ["collect", *map(str, args)], catch_exceptions=False)
    assert result.exit_code == 0, result.output
    return result


def values(msgs):
    return [m.value() for m in msgs]


def test_tail_with_regex_filter_then_restart_delivers_each_line_once(tmp_path, kafka, topic, consume_all):
    t = topic()
    log = tmp_path / "feed.log"
    log.write_text("20240101000000,car1,0,0,0,0,50,1\n# header\n20240101000001,car2,0,0,0,0,90,1\n")
    collect("--tail", log, "--include", r"^\d{14}", "--kafka", kafka.bootstrap, "--topic", t, "--once")
    with open(log, "a") as fh:
        fh.write("20240101000002,car3,0,0,0,0,70,1\nnoise\n")
    collect("--tail", log, "--include", r"^\d{14}", "--kafka", kafka.bootstrap, "--topic", t, "--once")
    time.sleep(0.5)
    got = values(consume_all(t, 10, timeout_s=5))
    assert got == [b"20240101000000,car1,0,0,0,0,50,1", b"20240101000001,car2,0,0,0,0,90,1",
                   b"20240101000002,car3,0,0,0,0,70,1"]


def test_spool_dir_files_are_delivered_and_marked_completed(tmp_path, kafka, topic, consume_all):
    t = topic()
    spool = tmp_path / "spool"
    spool.mkdir()
    (spool / "a.csv").write_text("".join(f"a{i}\n" for i in range(50)))
    (spool / "b.csv").write_text("".join(f"b{i}\n" for i in range(50)))
    result = collect("--spool-dir", spool, "--kafka", kafka.bootstrap, "--topic", t, "--once")
    assert "collected 100 lines" in result.output
    assert sorted(values(consume_all(t, 100))) == sorted(f"{c}{i}".encode() for c in "ab" for i in range(50))
    assert sorted(p.name for p in spool.iterdir() if not p.name.startswith(".")) == ["a.csv.COMPLETED",
                                                                                   "b.csv.COMPLETED"]
