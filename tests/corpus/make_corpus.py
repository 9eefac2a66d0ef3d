"""Write the corpus of bad deliveries (tests/corpus/), as a partner might send them.

The files are committed; this script documents how the binary and re-encoded ones were made and
rewrites them all: `.venv/bin/python tests/corpus/make_corpus.py`. Every file is a Cambodian (KHM,
canonical layout) delivery; `expected.yaml` says what ingestion must do with each.
"""

from __future__ import annotations

import datetime as dt
import io
from pathlib import Path

import xlsxwriter

HERE = Path(__file__).resolve().parent

PAYROLL = [
    "factory_id",
    "period",
    "employee_no",
    "national_id",
    "worker_name",
    "sex",
    "birth_date",
    "hire_date",
    "occupation",
    "contract_type",
    "pay_basis",
    "days_worked",
    "regular_hours",
    "overtime_hours",
    "basic_pay",
    "overtime_pay",
    "allowances",
    "bonuses",
    "deductions",
    "social_security_employee",
    "net_pay",
    "currency",
    "payment_method",
]
REGISTER = "ID,Name,Country Code,State,Enrolment Date,Status,Total Workers,Female Workers,Male Workers,First Product"


def row(nid: str, **values: str) -> list[str]:
    """A good payroll row of factory 101 for January 2025; keyword arguments break single cells."""
    good = {
        "factory_id": "101",
        "period": "2025-01",
        "employee_no": f"E-{nid}",
        "national_id": f"KH-{nid}",
        "worker_name": f"Worker {nid}",
        "sex": "F",
        "birth_date": "1995-01-02",
        "hire_date": "2020-01-01",
        "occupation": "sewing_operator",
        "contract_type": "open_ended",
        "pay_basis": "monthly",
        "days_worked": "26",
        "regular_hours": "208",
        "overtime_hours": "20",
        "basic_pay": "204",
        "overtime_pay": "30",
        "allowances": "19",
        "bonuses": "0",
        "deductions": "0",
        "social_security_employee": "4",
        "net_pay": "249",
        "currency": "USD",
        "payment_method": "bank",
    }
    good.update(values)
    return [good[c] for c in PAYROLL]


def csv_text(rows: list[list[str]], header: list[str] = PAYROLL) -> str:
    return "\n".join(",".join(r) for r in [header, *rows]) + "\n"


def write(name: str, data: str | bytes) -> None:
    path = HERE / name
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(data if isinstance(data, bytes) else data.encode("utf-8"))


def xlsx(sheets: dict[str, list[list[str]]]) -> bytes:
    buffer = io.BytesIO()
    book = xlsxwriter.Workbook(buffer, {"in_memory": True})
    book.set_properties({"created": dt.datetime(2025, 1, 31)})  # the same bytes on every run
    for name, rows in sheets.items():
        sheet = book.add_worksheet(name)
        for r, values in enumerate(rows):
            for c, value in enumerate(values):
                sheet.write_string(r, c, value)
    book.close()
    return buffer.getvalue()


def main() -> None:
    write(
        "factories/register.csv",
        REGISTER + "\n"
        "101,Alpha Garment,KH,Phnom Penh,15/03/2019,Active,5,4,1,Woven\n"
        '102,"=HYPERLINK(""http://example.org/x"",""click"")",KH,Kandal,01/02/2018,Active,3,2,1,Knit\n'
        "103,+Plus Apparel,KH,Kandal,01/02/2018,Active,3,2,1,Knit\n"
        "104,-Minus Textile,KH,Takeo,01/02/2018,Active,3,2,1,Knit\n"
        "105,@SUM(A1) Shoes,KH,Takeo,01/02/2018,Active,3,2,1,Footwear\n",
    )

    # ---- encodings
    accented = [row("001", worker_name="Sokhà Chéa"), row("002"), row("003", worker_name="Dara Lê")]
    write("payroll/encoding_cp1252.csv", csv_text(accented).encode("cp1252"))
    write("payroll/encoding_utf16_bom.csv", csv_text(accented).encode("utf-16"))  # BOM + little endian
    write("payroll/encoding_utf16_no_bom.csv", csv_text(accented).encode("utf-16-le"))
    write("payroll/encoding_utf8_bom.csv", csv_text(accented).encode("utf-8-sig"))

    # ---- file structure
    write("payroll/empty.csv", b"")
    write("payroll/header_only.csv", csv_text([]))
    write("payroll/no_header_row.csv", "\n".join(",".join(r) for r in [row("001"), row("002")]) + "\n")
    missing = [c for c in PAYROLL if c != "sex"]
    write(
        "payroll/missing_required_column.csv",
        csv_text([[v for c, v in zip(PAYROLL, row("001"), strict=True) if c != "sex"]], missing),
    )
    write(
        "payroll/extra_columns.csv",
        csv_text(
            [[*row("001"), "+855 12 345 678", "x"], [*row("002"), "+855 98 765 432", "y"]],
            [*PAYROLL, "phone", "remarks"],
        ),
    )
    truncated = csv_text([row("001"), row("002"), row("003")]).rstrip("\n")
    write("payroll/truncated_last_line.csv", truncated[: truncated.rindex(",208,") + 4])  # cut inside the last row
    write("payroll/blank_line_in_the_middle.csv", csv_text([row("001")]) + "\n" + ",".join(row("002")) + "\n")
    write("payroll/binary_named_csv.csv", bytes(range(256)) * 8)
    write("payroll/excel_named_csv.csv", xlsx({"Sheet1": [PAYROLL, row("001")]}))
    write("payroll/csv_title_row.csv", "Payroll export January 2025\n\n" + csv_text([row("001"), row("002")]))
    write(
        "payroll/excel_title_row.xlsx",
        xlsx({"Payroll": [["Payroll January 2025 - Alpha Garment"], [], PAYROLL, row("001"), row("002")]}),
    )
    write(
        "payroll/excel_several_sheets.xlsx",
        xlsx({"Notes": [["Prepared by HR"], ["See next sheet"]], "Payroll": [PAYROLL, row("001"), row("002")]}),
    )

    # ---- row values (each file: good rows around the bad ones)
    write(
        "payroll/unknown_sex_codes.csv",
        csv_text([row("001"), row("002", sex="X"), row("003", sex="Femme"), row("004", sex=""), row("005", sex="m")]),
    )
    write(
        "payroll/hours_and_pay.csv",
        csv_text(
            [
                row("001"),
                row("002", regular_hours="-8"),
                row("003", overtime_hours="900"),
                row("004", regular_hours="2080"),
                row("005", basic_pay="-204"),
                row("006", basic_pay="20400000"),
                row("007", bonuses="1e9"),
                row("008", days_worked="45"),
                row("009", basic_pay="two hundred"),
                row("010"),
            ]
        ),
    )
    write(
        "payroll/impossible_dates.csv",
        csv_text(
            [
                row("001"),
                row("002", birth_date="1995-02-30"),
                row("003", hire_date="31/04/2021"),
                row("004", birth_date="1850-01-01"),
                row("005", hire_date="2099-01-01"),
                row("006", hire_date="yesterday"),
                row("007", hire_date="15/06/2021"),  # dd/mm/yyyy is also accepted
            ]
        ),
    )
    write(
        "payroll/periods_no_month.csv",
        csv_text(
            [
                row("001"),
                row("002", period="2025-13"),
                row("003", period="2025-1"),
                row("004", period="Jan-2025"),
                row("005", period="202501"),
                row("006", period="2025-00"),
                row("007", period=""),
            ]
        ),
    )
    write(
        "payroll/duplicate_rows.csv",
        csv_text([row("001"), row("002"), row("001"), row("003"), row("003", basic_pay="999"), row("001")]),
    )
    write(
        "payroll/factory_not_in_register.csv",
        csv_text([row("001"), row("002", factory_id="999"), row("003", factory_id="0"), row("004", factory_id="abc")]),
    )
    write(
        "payroll/formula_values.csv",
        csv_text(
            [
                row("001", occupation="=1+2"),
                row("002", contract_type="@SUM(A1)"),
                row("003", currency="-USD"),
                row("004"),
            ]
        ),
    )


if __name__ == "__main__":
    main()
