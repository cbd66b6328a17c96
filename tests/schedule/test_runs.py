"""The backup run log: what the app shows of runs it did not see (scheduled ones)."""

from __future__ import annotations

import json
from datetime import timedelta
from pathlib import Path

import pytest

from desktopvm.schedule import runs


def test_runs_read_back_oldest_first_and_damaged_lines_are_skipped():
    runs.record("qemu:web", "/srv/b", ok=True, line="full set A, 1 MiB", scheduled=True)
    with runs.log_file().open("a", encoding="utf-8") as handle:
        handle.write("not json\n{\"machine\": \"x\"}\n")
        handle.write(json.dumps({"machine": "m", "destination": "d", "ended": "yesterday",
                                 "ok": True}) + "\n")
    runs.record("qemu:db", "/srv/b", ok=False, line="host\nunreachable   now")
    first, second = runs.read()
    assert (first.machine, first.ok, first.scheduled) == ("qemu:web", True, True)
    assert (second.machine, second.ok, second.line) == ("qemu:db", False, "host unreachable now")
    assert runs.last_run("qemu:db") == second and runs.last_run("qemu:none") is None


def test_only_the_latest_failed_scheduled_run_of_each_machine_is_news():
    runs.record("qemu:web", "/b", ok=False, line="first", scheduled=True)
    web = runs.record("qemu:web", "/b", ok=False, line="second", scheduled=True)
    runs.record("qemu:db", "/b", ok=False, line="by hand")  # the user saw it in the terminal
    runs.record("qemu:ok", "/b", ok=False, line="then fixed", scheduled=True)
    runs.record("qemu:ok", "/b", ok=True, scheduled=True)
    assert runs.unseen_failures() == [web]
    runs.record("qemu:web", "/b", ok=False, line="tried by hand, failed too")
    assert runs.unseen_failures() == [web]  # still: only a run that worked makes it good
    runs.mark_seen(web.ended_at)
    assert runs.unseen_failures() == []
    runs.mark_seen(web.ended_at - timedelta(seconds=1))  # a failure after the mark is news
    assert runs.unseen_failures() == [web]


def test_the_log_is_trimmed_to_the_newest_runs(monkeypatch: pytest.MonkeyPatch):
    monkeypatch.setattr(runs, "TRIM_AT", 12)
    monkeypatch.setattr(runs, "KEEP", 5)
    for number in range(12):
        runs.record(f"qemu:m{number}", "/b", ok=True)
    assert [r.machine for r in runs.read()] == [f"qemu:m{n}" for n in range(7, 12)]


def test_a_log_that_cannot_be_written_does_not_fail_the_backup(tmp_path: Path,
                                                                monkeypatch: pytest.MonkeyPatch):
    blocked = tmp_path / "file"
    blocked.write_text("")
    monkeypatch.setattr(runs, "log_file", lambda: blocked / "backup-runs.jsonl")
    run = runs.record("qemu:web", "/b", ok=True)  # no exception: only a warning logged
    assert run.ok and runs.read() == []


def test_a_machine_scheduled_into_two_folders_keeps_each_failure():
    usb = runs.record("qemu:web", "/media/usb", ok=False, line="not connected", scheduled=True)
    runs.record("qemu:web", "/nas", ok=True, scheduled=True)  # the other schedule worked
    assert runs.unseen_failures() == [usb]
    runs.record("qemu:web", "/media/usb", ok=True)  # backed up there by hand: made good
    assert runs.unseen_failures() == []
