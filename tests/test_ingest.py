"""Ingestion rules of the extract contract: quarantine with reasons, idempotency, corrections, lineage."""

import hashlib
import hmac

import polars as pl
import pytest

from assets.ingestion.ingest import ingest
from tests.conftest import PAYROLL_HEADER, REGISTER_HEADER, deliver

KEY = b"test-key"
REGISTER = REGISTER_HEADER + (
    "\n101,Alpha,KH,Phnom Penh,15/03/2019,Active,5,4,1,Woven\n102,Beta "
    "(Obsolete),KH,Kandal,01/02/2018,Inactive,0,0,0,Knit\n"
)


def payroll_row(
    factory="101", period="2025-01", nid="KH-001", sex="F", regular="208", basic="204", name="Sok A", emp="E1"
):
    return (
        f"{factory},{period},{emp},{nid},{name},{sex},1995-01-02,2020-01-01,sewing_operator,open_ended,monthly,26,"
        f"{regular},20,{basic},30,19,0,0,4,249,USD,bank"
    )


def load(paths, source="payroll"):
    report = ingest(source, "KHM", paths, KEY, log=lambda m: None)
    staged = pl.read_parquet(paths.staged_file(source, "KHM"))
    quarantine = pl.read_parquet(paths.quarantine_file(source, "KHM"))
    return report, staged, quarantine


def test_each_kind_of_bad_row_is_quarantined_with_its_reason_and_good_rows_load(data_root):
    deliver(data_root, "factories", "KHM", "register.csv", REGISTER)
    ingest("factories", "KHM", data_root, KEY, log=lambda m: None)
    rows = [
        payroll_row(),  # row 2: good
        payroll_row(nid="KH-002", sex="X"),  # row 3: unknown sex code
        payroll_row(nid="KH-003", regular="-5"),  # row 4: negative hours
        payroll_row(nid="KH-004", period="2025-13"),  # row 5: no month
        payroll_row(nid="KH-005", factory="999"),  # row 6: factory not in the register
        payroll_row(),  # row 7: duplicate of row 2
        payroll_row(nid="KH-006", basic="abc"),  # row 8: not a number
        payroll_row(nid="KH-007", regular="2000"),  # row 9: absurd hours
    ]
    deliver(data_root, "payroll", "KHM", "p.csv", PAYROLL_HEADER + "\n" + "\n".join(rows) + "\n")
    report, staged, quarantine = load(data_root)
    assert staged["_source_row"].to_list() == [2]
    reasons = dict(zip(quarantine["_source_row"], quarantine["reason"], strict=True))
    assert set(reasons) == {3, 4, 5, 6, 7, 8, 9}
    assert "sex: 'X'" in reasons[3]
    assert "regular_hours: '-5.0'" in reasons[4]
    assert "period: '2025-13' is not a month" in reasons[5]
    assert "999 is not in the factory register of KHM" in reasons[6]
    assert reasons[7] == "duplicate row: same as row 2"
    assert "basic_pay: 'abc' is not a number" in reasons[8]
    assert "regular_hours: '2000.0'" in reasons[9]
    (outcome,) = report.files
    assert (outcome.rows_read, outcome.rows_loaded, outcome.rows_quarantined) == (8, 1, 7)


def test_staged_rows_hold_no_personal_data_and_trace_to_their_file(data_root):
    deliver(data_root, "factories", "KHM", "register.csv", REGISTER)
    ingest("factories", "KHM", data_root, KEY, log=lambda m: None)
    deliver(
        data_root,
        "payroll",
        "KHM",
        "p.csv",
        PAYROLL_HEADER + "\n" + payroll_row(nid="KH 777", name="Chan Dara", emp="EMP-42") + "\n",
    )
    _, staged, _ = load(data_root)
    text = str(staged.to_dicts())
    for personal in ("KH 777", "KH777", "Chan Dara", "EMP-42"):
        assert personal not in text
    row = staged.row(0, named=True)
    assert row["worker_pid"] == hmac.new(KEY, b"KH777", hashlib.sha256).hexdigest()
    raw = (data_root.raw / "payroll/KHM/p.csv").read_bytes()
    assert (row["_source_file"], row["_source_row"], row["_file_sha256"]) == (
        "payroll/KHM/p.csv",
        2,
        hashlib.sha256(raw).hexdigest(),
    )


def test_same_file_twice_loads_once_and_reloading_is_idempotent(data_root):
    deliver(data_root, "factories", "KHM", "register.csv", REGISTER)
    ingest("factories", "KHM", data_root, KEY, log=lambda m: None)
    text = PAYROLL_HEADER + "\n" + payroll_row() + "\n" + payroll_row(nid="KH-002", emp="E2") + "\n"
    deliver(data_root, "payroll", "KHM", "jan.csv", text, mtime=1_700_000_000)
    deliver(data_root, "payroll", "KHM", "jan (copy).csv", text, mtime=1_700_000_100)
    report, staged, quarantine = load(data_root)
    assert staged.height == 2 and quarantine.height == 0
    assert [f.status for f in report.files] == ["loaded", "duplicate"]
    again = load(data_root)[1]
    assert again.drop("_loaded_at").equals(staged.drop("_loaded_at"))


def test_later_delivery_supersedes_and_the_earlier_row_stays_traceable(data_root):
    deliver(data_root, "factories", "KHM", "register.csv", REGISTER)
    ingest("factories", "KHM", data_root, KEY, log=lambda m: None)
    deliver(
        data_root,
        "payroll",
        "KHM",
        "jan.csv",
        PAYROLL_HEADER + "\n" + payroll_row(basic="204") + "\n",
        mtime=1_700_000_000,
    )
    deliver(
        data_root,
        "payroll",
        "KHM",
        "jan_fix.csv",
        PAYROLL_HEADER + "\n" + payroll_row(basic="210") + "\n",
        mtime=1_700_000_500,
    )
    _, staged, quarantine = load(data_root)
    assert staged["basic_pay"].to_list() == [210.0] and staged["_source_file"][0] == "payroll/KHM/jan_fix.csv"
    assert quarantine.select("_source_file", "reason").row(0) == (
        "payroll/KHM/jan.csv",
        "superseded by payroll/KHM/jan_fix.csv row 2",
    )


def test_the_key_rules_losers_leave_staging_by_their_file_and_row_only(data_root):
    """Staging drops the key rules' losers by their place (file order, row), found by a membership test: rows at the
    same row number in other files, and rows of the loser's own file, must stay, and each loser must reach quarantine
    with its own values. Three deliveries: the second corrects the first's row 2, the third the second's row 3, and
    the third repeats one of its rows identically (a duplicate row: quarantined, its first copy staged)."""
    deliver(data_root, "factories", "KHM", "register.csv", REGISTER)
    ingest("factories", "KHM", data_root, KEY, log=lambda m: None)
    a, b, c, d = (payroll_row(nid=f"KH-00{i}", emp=f"E{i}", basic=str(200 + i)) for i in range(1, 5))
    a_fix, c_fix = payroll_row(nid="KH-001", emp="E1", basic="301"), payroll_row(nid="KH-003", emp="E3", basic="303")
    files = {"jan.csv": [a, b], "jan_fix.csv": [a_fix, c], "jan_fix2.csv": [d, c_fix, d]}
    for order, (name, rows) in enumerate(files.items()):
        deliver(
            data_root, "payroll", "KHM", name, "\n".join([PAYROLL_HEADER, *rows]) + "\n", mtime=1_700_000_000 + order
        )
    _, staged, quarantine = load(data_root)
    kept = sorted(
        zip(staged["_source_file"].str.split("/").list.last(), staged["_source_row"], staged["basic_pay"], strict=True)
    )
    assert kept == [
        ("jan.csv", 3, 202.0),
        ("jan_fix.csv", 2, 301.0),
        ("jan_fix2.csv", 2, 204.0),
        ("jan_fix2.csv", 3, 303.0),
    ]
    lost = sorted(zip(quarantine["_source_file"].str.split("/").list.last(), quarantine["_source_row"], strict=True))
    assert lost == [("jan.csv", 2), ("jan_fix.csv", 3), ("jan_fix2.csv", 4)]
    values = dict(zip(quarantine["_source_row"], quarantine["basic_pay"], strict=True))
    assert values == {2: "201.0", 3: "203.0", 4: "204.0"}, "each loser's own values, not another row's"
    reasons = dict(zip(quarantine["_source_row"], quarantine["reason"], strict=True))
    assert reasons[2] == "superseded by payroll/KHM/jan_fix.csv row 2"
    assert reasons[3] == "superseded by payroll/KHM/jan_fix2.csv row 3"


def test_correction_under_the_same_name_replaces_its_earlier_version(data_root):
    deliver(data_root, "factories", "KHM", "register.csv", REGISTER)
    ingest("factories", "KHM", data_root, KEY, log=lambda m: None)
    deliver(
        data_root,
        "payroll",
        "KHM",
        "jan.csv",
        PAYROLL_HEADER + "\n" + payroll_row() + "\n" + payroll_row(nid="KH-002", emp="E2") + "\n",
    )
    assert load(data_root)[1].height == 2
    deliver(data_root, "payroll", "KHM", "jan.csv", PAYROLL_HEADER + "\n" + payroll_row(basic="250") + "\n")
    _, staged, quarantine = load(data_root)
    assert staged["basic_pay"].to_list() == [250.0] and quarantine.height == 0


def test_conflicting_duplicate_key_in_one_file_quarantines_both(data_root):
    deliver(data_root, "factories", "KHM", "register.csv", REGISTER)
    ingest("factories", "KHM", data_root, KEY, log=lambda m: None)
    deliver(
        data_root,
        "payroll",
        "KHM",
        "jan.csv",
        PAYROLL_HEADER + "\n" + payroll_row(basic="204") + "\n" + payroll_row(basic="999") + "\n",
    )
    _, staged, quarantine = load(data_root)
    assert staged.height == 0
    assert quarantine["reason"].str.contains("duplicate key .* with different values in rows 2, 3").all()


def test_unreadable_file_is_rejected_whole_while_other_files_load(data_root):
    deliver(data_root, "factories", "KHM", "register.csv", REGISTER)
    ingest("factories", "KHM", data_root, KEY, log=lambda m: None)
    deliver(data_root, "payroll", "KHM", "good.csv", PAYROLL_HEADER + "\n" + payroll_row() + "\n")
    deliver(data_root, "payroll", "KHM", "bad.csv", "factory_id,period\n101,2025-01\n")
    report, staged, _ = load(data_root)
    status = {f.file: (f.status, f.message) for f in report.files}
    assert (
        status["payroll/KHM/bad.csv"][0] == "rejected" and "missing required column" in status["payroll/KHM/bad.csv"][1]
    )
    assert staged.height == 1


def test_a_country_without_deliveries_stages_an_empty_typed_table(data_root):
    _, staged, quarantine = load(data_root, "worker_survey")
    assert staged.height == 0 and quarantine.height == 0
    assert staged.schema["survey_date"] == pl.Date and "respondent_pid" in staged.columns


def test_ingest_threads_come_from_the_environment_and_a_bad_value_says_how_to_fix_it(monkeypatch):
    from decentwork.settings import ingest_threads

    monkeypatch.delenv("DECENTWORK_INGEST_THREADS", raising=False)
    assert ingest_threads() == 2
    monkeypatch.setenv("DECENTWORK_INGEST_THREADS", "1")
    assert ingest_threads() == 1
    for bad in ("0", "two", "-1", ""):
        monkeypatch.setenv("DECENTWORK_INGEST_THREADS", bad)
        with pytest.raises(ValueError, match=r"DECENTWORK_INGEST_THREADS=.*whole number"):
            ingest_threads()


def test_files_validated_on_several_threads_stage_what_one_thread_stages(data_root):
    """A national refresh validates files of one country in parallel: same staging, quarantine and per-file
    report (in delivery order) as one file at a time, with a duplicate, a rejected file, a correction, bad
    rows and workers recurring across files."""
    import datetime as dt

    deliver(data_root, "factories", "KHM", "register.csv", REGISTER)
    ingest("factories", "KHM", data_root, KEY, log=lambda m: None)
    for month in range(1, 7):
        rows = [
            payroll_row(period=f"2025-0{month}", nid=f"KH-{w:03d}", emp=f"E{w}", basic=str(200 + w))
            for w in range(1, 40)
        ]
        rows.append(payroll_row(period=f"2025-0{month}", nid="KH-900", emp="E900", sex="X"))  # bad sex code
        deliver(
            data_root,
            "payroll",
            "KHM",
            f"m{month}.csv",
            PAYROLL_HEADER + "\n" + "\n".join(rows) + "\n",
            mtime=1_700_000_000 + month,
        )
    deliver(
        data_root,
        "payroll",
        "KHM",
        "m1_copy.csv",
        (data_root.raw_dir("payroll", "KHM") / "m1.csv").read_text(),
        mtime=1_700_000_100,
    )
    deliver(
        data_root,
        "payroll",
        "KHM",
        "m2_fix.csv",
        PAYROLL_HEADER + "\n" + payroll_row(period="2025-02", nid="KH-001", emp="E1", basic="999") + "\n",
        mtime=1_700_000_200,
    )
    deliver(data_root, "payroll", "KHM", "broken.csv", "factory_id,period\n101,2025-01\n", mtime=1_700_000_300)
    now = dt.datetime(2026, 1, 1, tzinfo=dt.UTC)

    def run(threads: int):
        report = ingest("payroll", "KHM", data_root, KEY, log=lambda m: None, now=now, threads=threads, reuse=False)
        return (
            report.frame(),
            pl.read_parquet(data_root.staged_file("payroll", "KHM")),
            pl.read_parquet(data_root.quarantine_file("payroll", "KHM")),
        )

    one, three = run(1), run(3)
    for a, b in zip(one, three, strict=True):
        assert a.equals(b)
    report, staged, quarantine = three
    delivered = [f"m{m}" for m in range(1, 7)] + ["m1_copy", "m2_fix", "broken"]  # by delivery time
    assert report["file"].to_list() == [f"payroll/KHM/{name}.csv" for name in delivered]
    assert report["status"].to_list().count("duplicate") == 1 and report["status"].to_list().count("rejected") == 1
    assert staged.height == 6 * 39 and staged["worker_pid"].n_unique() == 39
    assert quarantine["reason"].str.starts_with("superseded by payroll/KHM/m2_fix.csv").sum() == 1
    assert quarantine.height == 6 + 1
