"""The partner reports beside the quarantine: files.csv, quarantine_reasons.csv, quarantine_summary.csv.

Partners and national teams open them in a spreadsheet: they must name every quarantined row and why, quote no
personal value (no worker id, pseudonym, name, wage or any other delivered cell), and never start a cell with
something a spreadsheet runs as a formula.
"""

from __future__ import annotations

import csv
import io
import re
from collections import Counter
from pathlib import Path

import polars as pl

from assets.ingestion.ingest import ingest, unchanged_since_staged
from assets.ingestion.reasons import NOT_SHOWN, partner_reason
from assets.ingestion.stage import write_csv_atomic
from schemas.canonical import CONTRACT_TYPES, OCCUPATIONS, PAY_BASES, PAYMENT_METHODS, SEX_CODES
from tests.conftest import PAYROLL_HEADER, deliver
from tests.test_ingest import REGISTER

KEY = b"partner-reports-test-key"
FORMULA_START = ("=", "+", "-", "@", "\t", "\r")
LINEAGE = (
    "_source_file",
    "_source_row",
    "reason",
)  # the first columns of quarantine.parquet; every other is a cell value
# The contract's own codes are public words of its rules (an isin check lists them): not personal values.
PUBLIC_CODES = {*SEX_CODES, *OCCUPATIONS, *CONTRACT_TYPES, *PAY_BASES, *PAYMENT_METHODS, "USD"}


def worker(n: int, **changes: str) -> dict[str, str]:
    """One payroll line of worker n; every value distinctive, so a leaked one cannot hide behind a rule's text."""
    row = {
        "factory_id": "101",
        "period": "2025-03",
        "employee_no": f"EMP-77{n:02d}",
        "national_id": f"KH-884{n:02d}",
        "worker_name": f"Sreymom Kanha{'abcdefghijklmnopqrstuvwxyz'[n]}",
        "sex": "F",
        "birth_date": "1993-07-19",
        "hire_date": "2019-11-04",
        "occupation": "sewing_operator",
        "contract_type": "open_ended",
        "pay_basis": "monthly",
        "days_worked": "23.5",
        "regular_hours": "187.25",
        "overtime_hours": "11.75",
        "basic_pay": "243.61",
        "overtime_pay": "31.13",
        "allowances": "17.29",
        "bonuses": "3.71",
        "deductions": "1.19",
        "social_security_employee": "9.41",
        "net_pay": "285.37",
        "currency": "USD",
        "payment_method": "bank",
    }
    return row | changes


def payroll_csv(rows: list[dict[str, str]]) -> str:
    out = io.StringIO()
    writer = csv.DictWriter(out, PAYROLL_HEADER.split(","), lineterminator="\n")
    writer.writeheader()
    writer.writerows(rows)
    return out.getvalue()


JAN = [
    worker(1),  # row 2: good
    worker(2, birth_date="31/02/1990"),  # row 3: a date that does not exist
    worker(3, basic_pay="-12.5"),  # row 4: a negative wage
    worker(4, basic_pay='=HYPERLINK("http://evil.example","pay")'),  # row 5: a formula
    worker(5, basic_pay="Chan Dara"),  # row 6: a name keyed into a wage
    worker(6, allowances="O'Neil; Dara' is not a number"),  # row 7: a name with a quote, "; " and a reason's words
    worker(7, basic_pay="250.17"),
    worker(7, basic_pay="260.19"),  # rows 8, 9: one key, two values
    worker(1),  # row 10: the same as row 2
    worker(8, basic_pay="98765.43"),  # row 11: beyond any pay
    worker(9, factory_id="999"),  # row 12: not in the factory register
    worker(10, sex="@home", birth_date="1931-05-05"),  # row 13: two problems
    worker(11, occupation="+855 12 345 678"),  # row 14: a phone number for an occupation
    worker(12),  # row 15: superseded by feb.csv row 2
]
FEB = [worker(12, basic_pay="250.99")]

# What the partner reads for each quarantined row, written out by hand (a pattern: the date rules name today's
# bound and the layout's date formats, the pay rule the seed's minimum wage)
EXPECTED = {
    ("payroll/KHM/jan.csv", 3): r"birth_date: '…' is not a real date as [%YmdY/.\- or]+",
    ("payroll/KHM/jan.csv", 4): re.escape("basic_pay: '…' fails greater_than_or_equal_to(0)"),
    ("payroll/KHM/jan.csv", 5): re.escape("basic_pay: '…' is not a number"),
    ("payroll/KHM/jan.csv", 6): re.escape("basic_pay: '…' is not a number"),
    ("payroll/KHM/jan.csv", 7): re.escape("allowances: '…' is not a number"),
    ("payroll/KHM/jan.csv", 8): re.escape(
        "duplicate key (factory_id …, period …, the same worker) with different values in rows 8, 9 of the same file"
    ),
    ("payroll/KHM/jan.csv", 9): re.escape(
        "duplicate key (factory_id …, period …, the same worker) with different values in rows 8, 9 of the same file"
    ),
    ("payroll/KHM/jan.csv", 10): re.escape("duplicate row: same as row 2"),
    (
        "payroll/KHM/jan.csv",
        11,
    ): r"basic_pay: … is over 100 times the highest monthly minimum wage of KHM \([0-9.]+ USD\): a keying error\?",
    ("payroll/KHM/jan.csv", 12): re.escape("factory_id: … is not in the factory register of KHM"),
    (
        "payroll/KHM/jan.csv",
        13,
    ): r"sex: '…' is not a sex code F or M \(declare other codes under values\.sex in schemas/mappings/<ISO3>\.yaml\)"
    r"; birth_date: '…' fails in_range\(1940-01-01, \d{4}-\d\d-\d\d\)",
    ("payroll/KHM/jan.csv", 14): r"occupation: '…' fails isin\(\('sewing_operator', [a-z_', ]+\)\)",
    ("payroll/KHM/jan.csv", 15): re.escape("superseded by payroll/KHM/feb.csv row 2"),
}


def read_csv(path: Path) -> list[list[str]]:
    raw = path.read_bytes()
    assert raw.startswith(b"\xef\xbb\xbf"), f"{path.name}: UTF-8 with a byte-order mark, for Excel"
    with path.open(encoding="utf-8-sig", newline="") as fh:
        return list(csv.reader(fh))


def load(data_root) -> None:
    deliver(data_root, "factories", "KHM", "register.csv", REGISTER)
    ingest("factories", "KHM", data_root, KEY, log=lambda m: None)
    deliver(data_root, "payroll", "KHM", "jan.csv", payroll_csv(JAN), mtime=1_700_000_000)
    deliver(data_root, "payroll", "KHM", "feb.csv", payroll_csv(FEB), mtime=1_700_000_500)
    ingest("payroll", "KHM", data_root, KEY, log=lambda m: None)


def as_pattern(masked: str) -> str:
    """A masked reason as a pattern of the reason it was made from: each "…" stands for the value it hides."""
    return ".+".join(re.escape(piece) for piece in masked.split("…"))


def test_every_quarantined_row_is_named_once_with_its_file_row_and_rule(data_root):
    load(data_root)
    quarantine = pl.read_parquet(data_root.quarantine_file("payroll", "KHM"))
    header, *lines = read_csv(data_root.quarantine_reasons_csv("payroll", "KHM"))
    assert header == ["file", "row", "reason"]
    assert all(len(line) == 3 for line in lines)
    named = Counter((file, int(row)) for file, row, _ in lines)
    assert set(named.values()) == {1}, "each quarantined row once"
    assert set(named) == set(zip(quarantine["_source_file"], quarantine["_source_row"], strict=True)) == set(EXPECTED)
    reasons = {(file, int(row)): reason for file, row, reason in lines}
    for file, row, reason in zip(
        quarantine["_source_file"], quarantine["_source_row"], quarantine["reason"], strict=True
    ):
        assert re.fullmatch(EXPECTED[file, row], reasons[file, row]), (file, row, reasons[file, row])
        # the same reason as the quarantine's, only its values hidden
        assert re.fullmatch(as_pattern(reasons[file, row]), reason, re.S), (reasons[file, row], reason)
    assert [(f, int(r)) for f, r, _ in lines] == sorted(named), "in file and row order"

    header, *summary = read_csv(data_root.quarantine_summary_csv("payroll", "KHM"))
    assert header == ["file", "rule", "count", "first_rows"]
    rules = {(file, rule): (int(count), first) for file, rule, count, first in summary}
    assert rules[("payroll/KHM/jan.csv", "basic_pay: '…' is not a number")] == (2, "5, 6")
    assert rules[
        (
            "payroll/KHM/jan.csv",
            "duplicate key (factory_id …, period …, the same worker) with different values in rows … of the same file",
        )
    ] == (2, "8, 9")
    assert rules[("payroll/KHM/jan.csv", "duplicate row: same as row …")] == (1, "10")
    assert rules[("payroll/KHM/jan.csv", "superseded by payroll/KHM/feb.csv row …")] == (1, "15")
    assert rules[("payroll/KHM/jan.csv", "factory_id: … is not in the factory register of KHM")] == (1, "12")
    assert sum(count for count, _ in rules.values()) == len(EXPECTED) + 1  # row 13 breaks two rules
    assert not any(re.search(r"\brows? \d", rule) for _, rule in rules), "a rule counts rows, it names none"


def test_no_personal_or_delivered_value_reaches_the_partner_csvs(data_root):
    load(data_root)
    quarantine = pl.read_parquet(data_root.quarantine_file("payroll", "KHM"))
    assert quarantine.height == len(EXPECTED)
    values = {
        v
        for c in quarantine.columns
        if c not in LINEAGE
        for v in quarantine[c].cast(pl.String).to_list()
        if v is not None
    }
    delivered = {"payroll/KHM/jan.csv": JAN, "payroll/KHM/feb.csv": FEB}
    # the delivered text, personal columns too
    for file, row in zip(quarantine["_source_file"], quarantine["_source_row"], strict=True):
        values |= {v for v in delivered[file][row - 2].values() if v}
    values -= PUBLIC_CODES
    assert {"-12.5", "Chan Dara", "98765.43", "999", "@home", "KH-88403", "EMP-7705", "Sreymom Kanhaf"} <= values
    assert any(re.fullmatch(r"[0-9a-f]{64}", v) for v in values), "the pseudonyms are among the values checked"
    texts = {
        name: (data_root.quarantine / "payroll" / "country=KHM" / name).read_text(encoding="utf-8-sig")
        for name in ("quarantine_reasons.csv", "quarantine_summary.csv")
    }
    for name, text in texts.items():
        leaked = sorted(v for v in values if v in text)
        assert not leaked, f"{name} quotes {leaked}"
    # pieces of the values too: a name's first word, a formula's target, a phone number's digits
    for piece in ("Chan", "Dara", "O'Neil", "HYPERLINK", "evil.example", "855", "1931", "1990", "98765"):
        assert all(piece not in text for text in texts.values()), piece


def test_no_cell_of_any_partner_csv_starts_like_a_formula(data_root):
    load(data_root)
    folder = data_root.quarantine / "payroll" / "country=KHM"
    for name in ("files.csv", "quarantine_reasons.csv", "quarantine_summary.csv"):
        for line in read_csv(folder / name):
            assert not [cell for cell in line if cell.startswith(FORMULA_START)], (name, line)
    assert not list(folder.glob(".*.tmp")), "written atomically: no temporary file left"


def test_files_csv_is_the_file_report_as_text(data_root):
    load(data_root)
    deliver(data_root, "payroll", "KHM", "broken.csv", "factory_id,period\n101,2025-01\n", mtime=1_700_000_900)
    ingest("payroll", "KHM", data_root, KEY, log=lambda m: None)
    report = pl.read_parquet(data_root.file_report("payroll", "KHM"))
    header, *lines = read_csv(data_root.file_report_csv("payroll", "KHM"))
    assert header == report.columns
    expected = [
        ["" if v is None else ("'" + v if isinstance(v, str) and v.startswith(FORMULA_START) else str(v)) for v in row]
        for row in report.iter_rows()
    ]
    assert lines == expected
    assert {line[header.index("status")] for line in lines} == {"loaded", "rejected"}
    jan = lines[[line[0] for line in lines].index("payroll/KHM/jan.csv")]
    assert (
        jan[header.index("rows_read")],
        jan[header.index("rows_quarantined")],
        jan[header.index("rows_superseded")],
    ) == ("14", "12", "1")


def test_a_cell_starting_like_a_formula_gets_an_apostrophe_and_numbers_stay_numbers(tmp_path):
    frame = pl.DataFrame(
        {
            "text": ["=1+1", "+855", "-12.5", "@SUM(A1)", "\tx", "\rx", "a=b", "", None, "'quoted"],
            "number": [-5, 1, 2, 3, 4, 5, 6, 7, 8, 9],
        }
    )
    target = tmp_path / "out.csv"
    write_csv_atomic(frame, target)
    header, *lines = read_csv(target)
    assert header == ["text", "number"]
    assert [line[0] for line in lines] == [
        "'=1+1",
        "'+855",
        "'-12.5",
        "'@SUM(A1)",
        "'\tx",
        "'\rx",
        "a=b",
        "",
        "",
        "'quoted",
    ]
    assert [line[1] for line in lines] == ["-5", "1", "2", "3", "4", "5", "6", "7", "8", "9"]
    assert list(tmp_path.iterdir()) == [target]


def test_a_reason_in_a_form_ingestion_does_not_write_is_not_shown_at_all():
    assert (
        partner_reason("worker_pid: 9f2c0a is shared with another factory", "payroll")
        == (f"worker_pid: {NOT_SHOWN}",) * 2
    )
    assert partner_reason("KH-88412 appears twice", "payroll") == (NOT_SHOWN, NOT_SHOWN)
    assert partner_reason("national_id2: 'KH-88412' is not a number", "payroll") == (NOT_SHOWN, NOT_SHOWN)
    # a value that itself reads like the end of a reason is hidden whole
    reason, rule = partner_reason("basic_pay: 'x' is not a number; KH-88412' is not a number", "payroll")
    assert reason == rule == "basic_pay: '…' is not a number"
    reason, rule = partner_reason(
        "duplicate key (factory_id 101, period 2025-01) with different values in rows 2, 3 of the same file",
        "social_security",
    )
    assert (
        reason
        == "duplicate key (factory_id …, period …, the same worker) with different values in rows 2, 3 of the same file"
    )
    assert rule == reason.replace("rows 2, 3", "rows …")


def test_the_reports_follow_every_load_and_stay_with_a_country_kept_as_staged(data_root):
    load(data_root)
    assert unchanged_since_staged("payroll", "KHM", data_root, KEY)  # a refresh now keeps the country, reports included
    for path in (
        data_root.file_report_csv("payroll", "KHM"),
        data_root.quarantine_reasons_csv("payroll", "KHM"),
        data_root.quarantine_summary_csv("payroll", "KHM"),
    ):
        assert path.exists()
    # the partner corrects January: one bad wage is left
    deliver(
        data_root,
        "payroll",
        "KHM",
        "jan.csv",
        payroll_csv([worker(1), worker(2, basic_pay="-3.5")]),
        mtime=1_700_000_000,
    )
    ingest("payroll", "KHM", data_root, KEY, log=lambda m: None)
    assert pl.read_parquet(data_root.quarantine_file("payroll", "KHM")).height == 1
    assert read_csv(data_root.quarantine_reasons_csv("payroll", "KHM"))[1:] == [
        ["payroll/KHM/jan.csv", "3", "basic_pay: '…' fails greater_than_or_equal_to(0)"]
    ]
    assert read_csv(data_root.quarantine_summary_csv("payroll", "KHM"))[1:] == [
        ["payroll/KHM/jan.csv", "basic_pay: '…' fails greater_than_or_equal_to(0)", "1", "3"]
    ]
    files = read_csv(data_root.file_report_csv("payroll", "KHM"))
    assert [(line[0], line[5]) for line in files[1:]] == [("payroll/KHM/jan.csv", "1"), ("payroll/KHM/feb.csv", "0")]


def test_a_source_without_deliveries_writes_reports_with_headers_only(data_root):
    ingest("worker_survey", "KHM", data_root, KEY, log=lambda m: None)
    assert read_csv(data_root.quarantine_reasons_csv("worker_survey", "KHM")) == [["file", "row", "reason"]]
    assert read_csv(data_root.quarantine_summary_csv("worker_survey", "KHM")) == [
        ["file", "rule", "count", "first_rows"]
    ]
    assert read_csv(data_root.file_report_csv("worker_survey", "KHM"))[0][:3] == ["file", "sha256", "status"]
