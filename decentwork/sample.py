"""Seeded generator of realistic, messy sample extracts (all six sources of the contract).

No real Better Work data is public, so the warehouse ships this generator. It writes
`<out>/<source>/<ISO3>/*` the way partners deliver: Better Work's own exports (factories,
assessments, PICC members) as dd/mm/yyyy CSVs, and the designed payroll / social-security /
survey layouts in each country's own way:

- BGD, KHM: canonical CSV (KHM wages in USD);
- VNM: Vietnamese headers, sex Nữ/Nam, dd/mm/yyyy dates;
- IDN: semicolon CSV with decimal commas, sex P/L;
- JOR: Excel workbooks with a title row above the header;
- surveys outside BGD/KHM code sex 1 = male, 2 = female.

`schemas/mappings/<ISO3>.yaml` describes exactly these layouts. Planted structure: a gender
pay gap narrowing with years in the programme, below-minimum-wage and unregistered workers,
excess overtime in some factories, PICCs where women are under-represented. With
`bad_rows=True` every kind of bad row the contract names is planted, and recorded with its
file and spreadsheet row in `<out>/.sample-manifest.json`, together with a duplicate file
and a correction delivered later.

Everything is vectorised with numpy; payroll and social security are written month by month,
so the full programme (scale factor 1: ~1,700 factories, ~2.4 million workers, 12 months)
never needs the whole year in memory.
"""

from __future__ import annotations

import datetime as dt
import json
import os
import shutil
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import polars as pl

from assets.ingestion.pseudonyms import SAMPLE_MANIFEST, generated_fingerprint

FULL_PROGRAMME = {"factories": 1700, "workers": 2_400_000, "months": 12}
DEFAULT_COUNTRIES = ("BGD", "KHM", "VNM", "IDN", "JOR")
MANIFEST = SAMPLE_MANIFEST


def scale_params(scale: float) -> dict:
    """Generator sizes for a scale factor (1 = the whole programme's year)."""
    return {
        "factories": max(len(DEFAULT_COUNTRIES) * 4, round(FULL_PROGRAMME["factories"] * scale)),
        "workers": max(500, round(FULL_PROGRAMME["workers"] * scale)),
        "months": 12,
    }


@dataclass(frozen=True)
class CountryWorld:
    iso2: str
    name: str  # as Better Work exports write it
    currency: str
    share: float  # of factories
    female_share: float
    states: dict[str, float]  # register State -> monthly minimum wage (LCU) in force in the sample year
    money_decimals: int
    regular_hours_month: float
    hours_per_day: float
    overtime_premium: float
    allowance: float  # fixed monthly allowance (LCU)
    scheme: str | None  # social-security scheme; None = no contributory scheme delivered
    employer_rate: float  # % of insurable wage
    employee_rate: float
    id_digits: int


WORLD: dict[str, CountryWorld] = {
    "BGD": CountryWorld(
        "BD",
        "Bangladesh",
        "BDT",
        0.36,
        0.56,
        {"Dhaka": 12500, "Gazipur": 12500, "Chattogram": 12500, "Narayanganj": 12500},
        0,
        208,
        8,
        2.0,
        450,
        None,
        0,
        0,
        10,
    ),
    "KHM": CountryWorld(
        "KH",
        "Cambodia",
        "USD",
        0.22,
        0.78,
        {"Phnom Penh": 208, "Kandal": 208, "Kampong Speu": 208, "Takeo": 208},
        2,
        208,
        8,
        1.5,
        17,
        "NSSF",
        5.4,
        2.0,
        9,
    ),
    "VNM": CountryWorld(
        "VN",
        "Vietnam",
        "VND",
        0.22,
        0.75,
        {
            "Ho Chi Minh City": 4960000,
            "Dong Nai": 4960000,
            "Bac Ninh": 4410000,
            "Long An": 4410000,
            "Nam Dinh": 3860000,
            "Thanh Hoa": 3450000,
        },
        0,
        208,
        8,
        1.5,
        300000,
        "VSS",
        21.5,
        10.5,
        12,
    ),
    "IDN": CountryWorld(
        "ID",
        "Indonesia",
        "IDR",
        0.12,
        0.80,
        {"DKI Jakarta": 5396761, "Jawa Barat": 2191232, "Jawa Tengah": 2169349, "Banten": 2905119},
        0,
        173,
        7,
        1.5,
        150000,
        "BPJS-TK",
        6.24,
        3.0,
        16,
    ),
    "JOR": CountryWorld(
        "JO",
        "Jordan",
        "JOD",
        0.08,
        0.68,
        {"Irbid": 290, "Amman": 290, "Zarqa": 290, "Karak": 290},
        2,
        208,
        8,
        1.25,
        10,
        "SSC",
        14.25,
        7.5,
        10,
    ),
    # a small programme (the share gives it the generator's minimum of 4 factories): the test suite's small country
    "HTI": CountryWorld(
        "HT",
        "Haiti",
        "HTG",
        0.013,
        0.62,
        {"Ouest": 685 * 26, "Nord-Est": 685 * 26},  # HTG 685 per 8-hour day (ref_minimum_wages), 26 days
        2,
        208,
        8,
        1.5,
        500,
        None,
        0,
        0,
        10,
    ),
}

OCCUPATION_MIX = {  # occupation: (share, wage multiplier of the minimum, female share multiplier)
    "sewing_operator": (0.55, 1.12, 1.15),
    "helper": (0.14, 1.02, 1.1),
    "cutter": (0.07, 1.18, 0.55),
    "quality_control": (0.08, 1.2, 1.0),
    "mechanic": (0.04, 1.45, 0.1),
    "supervisor": (0.06, 1.8, 0.6),
    "manager": (0.01, 3.2, 0.35),
    "other": (0.05, 1.1, 0.8),
}
# Women's pay penalty within an occupation by completed years in the programme: the gap
# closes by ~85 per cent after four years (the planted "Better Work effect").
GAP_BY_YIP = np.array([0.14, 0.10, 0.07, 0.04, 0.02])

# Assessment question catalogue: (cluster as exported, compliance point, question, public disclosure)
QUESTIONS = [
    ("Child Labour", "Child Labourers", "Are there workers under the minimum working age?", True),
    (
        "Child Labour",
        "Documentation and Protection of Young Workers",
        "Does the employer keep records of young workers' age?",
        False,
    ),
    ("Discrimination", "Gender", "Does the employer take sex into account in pay decisions?", True),
    ("Discrimination", "Gender", "Are workers sexually harassed at work?", True),
    ("Discrimination", "Race and Origin", "Does the employer discriminate by race or origin?", False),
    ("Forced Labour", "Coercion", "Are workers free to leave the workplace at the end of their shift?", True),
    (
        "Forced Labour",
        "Forced Labour and Overtime",
        "Are workers forced to work overtime under threat of penalty?",
        True,
    ),
    (
        "Freedom of Association and Collective Bargaining",
        "Union Operations",
        "Does the employer interfere with union operations?",
        True,
    ),
    (
        "Freedom of Association and Collective Bargaining",
        "Freedom to Associate",
        "Are workers free to form and join unions?",
        True,
    ),
    (
        "Freedom of Association and Collective Bargaining",
        "Collective Bargaining",
        "Does the employer bargain collectively in good faith?",
        False,
    ),
    (
        "Compensation",
        "Minimum Wages/Piece Rate Wages",
        "Does the employer pay at least the minimum wage for ordinary hours?",
        True,
    ),
    ("Compensation", "Overtime Wages", "Does the employer pay overtime at the legal premium?", True),
    (
        "Compensation",
        "Social Security and Other Benefits",
        "Does the employer pay social security contributions for all workers?",
        True,
    ),
    ("Compensation", "Wage Information, Use and Deduction", "Are deductions from wages lawful?", False),
    ("Compensation", "Paid Leave", "Does the employer pay for annual leave?", False),
    ("Contracts and Human Resources", "Employment Contracts", "Do all workers have written contracts?", False),
    ("Contracts and Human Resources", "Termination", "Does the employer follow legal termination procedures?", False),
    (
        "Occupational Safety and Health",
        "Emergency Preparedness",
        "Are emergency exits unlocked during working hours?",
        True,
    ),
    (
        "Occupational Safety and Health",
        "Emergency Preparedness",
        "Has the factory done a fire drill in the last six months?",
        True,
    ),
    (
        "Occupational Safety and Health",
        "Chemicals and Hazardous Substances",
        "Are chemicals labelled and stored safely?",
        False,
    ),
    (
        "Occupational Safety and Health",
        "Worker Protection",
        "Are machines fitted with needle guards and belt covers?",
        True,
    ),
    ("Occupational Safety and Health", "Working Environment", "Are temperature and ventilation acceptable?", False),
    (
        "Occupational Safety and Health",
        "Health Services and First Aid",
        "Are first-aid kits stocked and accessible?",
        False,
    ),
    ("Occupational Safety and Health", "Welfare Facilities", "Are there enough clean toilets?", False),
    ("Systems", "OSH Management Systems", "Has the employer assessed OSH risks in the workplace?", False),
    ("Working Time", "Regular Hours", "Do regular working hours stay within the legal limit?", False),
    ("Working Time", "Overtime", "Does overtime stay within the legal limit?", True),
    ("Working Time", "Leave", "Does the employer grant weekly rest days?", False),
]
NC_PROPENSITY = {  # baseline share of factories non-compliant on a question of the cluster
    "Child Labour": 0.02,
    "Discrimination": 0.08,
    "Forced Labour": 0.04,
    "Freedom of Association and Collective Bargaining": 0.12,
    "Compensation": 0.22,
    "Contracts and Human Resources": 0.18,
    "Occupational Safety and Health": 0.38,
    "Systems": 0.35,
    "Working Time": 0.45,
}
FGW_QUESTIONS = [
    (
        "Freedom of Association and Collective Bargaining",
        "Union Operations",
        "FGW.UO.01",
        "What percentage of workers are union members?",
    ),
    (
        "Occupational Safety and Health",
        "Worker Protection",
        "FGW.WP.01",
        "How many workplace accidents were recorded in the last 12 months?",
    ),
]

FIRST_NAMES_F = ["Sokha", "Lan", "Nasrin", "Siti", "Rania", "Dara", "Hoa", "Rina", "Fatema", "Maya"]
FIRST_NAMES_M = ["Vuthy", "Minh", "Karim", "Budi", "Omar", "Rithy", "Tuan", "Agus", "Rahim", "Sami"]
LAST_NAMES = ["Chan", "Nguyen", "Hossain", "Wijaya", "Haddad", "Sok", "Tran", "Rahman", "Santoso", "Khalil"]
POSITIONS_W = ["Sewing worker", "Helper", "Quality inspector", "Trade union chairman", "Cutter"]
POSITIONS_M = ["HR Manager", "Production Manager", "Compliance Officer", "Factory Manager"]

# Country layouts of the designed extracts (mirrored by schemas/mappings/<ISO3>.yaml).
VN_PAYROLL = {
    "factory_id": "Mã nhà máy",
    "period": "Kỳ lương",
    "employee_no": "Mã nhân viên",
    "national_id": "Số CCCD",
    "worker_name": "Họ và tên",
    "sex": "Giới tính",
    "birth_date": "Ngày sinh",
    "hire_date": "Ngày vào làm",
    "occupation": "Nghề nghiệp",
    "contract_type": "Loại hợp đồng",
    "pay_basis": "Hình thức trả lương",
    "days_worked": "Số ngày công",
    "regular_hours": "Giờ làm việc",
    "overtime_hours": "Giờ làm thêm",
    "basic_pay": "Lương cơ bản",
    "overtime_pay": "Lương làm thêm giờ",
    "allowances": "Phụ cấp",
    "bonuses": "Thưởng",
    "deductions": "Khấu trừ",
    "social_security_employee": "BHXH người lao động",
    "net_pay": "Thực lĩnh",
    "currency": "Tiền tệ",
    "payment_method": "Hình thức thanh toán",
}
VN_SOCIAL_SECURITY = {
    "factory_id": "Mã nhà máy",
    "period": "Tháng đóng",
    "national_id": "Số CCCD",
    "registration_date": "Ngày đăng ký",
    "insurable_wage": "Tiền lương đóng BHXH",
    "employer_contribution": "Người sử dụng lao động đóng",
    "employee_contribution": "Người lao động đóng",
    "paid_date": "Ngày nộp",
    "scheme": "Loại bảo hiểm",
}
SEX_LABELS = {
    "VNM": ("Nữ", "Nam"),
    "IDN": ("P", "L"),
    "JOR": ("Female", "Male"),
    "BGD": ("F", "M"),
    "KHM": ("F", "M"),
    "HTI": ("F", "M"),
}
SURVEY_SEX_12 = {"VNM", "IDN", "JOR"}  # surveys coding 1 = male, 2 = female
EXCEL_COUNTRIES = {"JOR"}
TITLE_ROWS = 2  # JOR workbooks: a title row and a blank row above the header


# ----------------------------------------------------------------- helpers


def _periods(end_period: str, months: int) -> list[str]:
    year, month = map(int, end_period.split("-"))
    out = []
    for _ in range(months):
        out.append(f"{year:04d}-{month:02d}")
        month -= 1
        if month == 0:
            year, month = year - 1, 12
    return out[::-1]


def _month_start(period: str) -> dt.date:
    return dt.date(int(period[:4]), int(period[5:7]), 1)


def _month_end(period: str) -> dt.date:
    start = _month_start(period)
    return (start.replace(day=28) + dt.timedelta(days=4)).replace(day=1) - dt.timedelta(days=1)


def _days(dates: np.ndarray) -> np.ndarray:
    return dates.astype("datetime64[D]")


class _Writer:
    """Writes one delivered file in a country's layout and remembers planted rows."""

    def __init__(self, out: Path, manifest: dict):
        self.out = out
        self.manifest = manifest

    def first_row(self, country: str, source: str) -> int:
        """Spreadsheet row number of the first data row."""
        return (
            TITLE_ROWS + 2
            if (country in EXCEL_COUNTRIES and source in ("payroll", "social_security", "worker_survey"))
            else 2
        )

    def write(self, frame: pl.DataFrame, country: str, source: str, stem: str) -> Path:
        folder = self.out / source / country
        folder.mkdir(parents=True, exist_ok=True)
        designed = source in ("payroll", "social_security", "worker_survey")
        text = frame.with_columns(pl.all().cast(pl.String))
        if designed and country == "VNM":
            renames = VN_PAYROLL if source == "payroll" else VN_SOCIAL_SECURITY if source == "social_security" else {}
            text = text.rename({k: v for k, v in renames.items() if k in text.columns})
        if designed and country in EXCEL_COUNTRIES:
            path = folder / f"{stem}.xlsx"
            _write_xlsx(
                path,
                text,
                sheet=source[:31],
                title=f"Better Work {WORLD[country].name}: {source.replace('_', ' ')} extract {stem}",
            )
            return path
        path = folder / f"{stem}.csv"
        if designed and country == "IDN":
            text.write_csv(path, separator=";")
        else:
            text.write_csv(path)
        return path

    def plant(self, source: str, country: str, path: Path, index: int, kind: str) -> None:
        self.manifest["bad_rows"].append(
            {
                "source": source,
                "country": country,
                "file": f"{source}/{country}/{path.name}",
                "row": index + self.first_row(country, source),
                "kind": kind,
            }
        )


def _write_xlsx(path: Path, text: pl.DataFrame, sheet: str, title: str) -> None:
    """An Excel workbook as partners send them: a title, a blank row, then the table (all cells text)."""
    import xlsxwriter

    workbook = xlsxwriter.Workbook(str(path), {"constant_memory": True})
    workbook.set_properties({"created": dt.datetime(2025, 1, 1)})  # same seed, same bytes
    ws = workbook.add_worksheet(sheet)
    ws.write_string(0, 0, title)
    for c, name in enumerate(text.columns):
        ws.write_string(TITLE_ROWS, c, name)
    for r, row in enumerate(text.iter_rows(), start=TITLE_ROWS + 1):
        for c, value in enumerate(row):
            if value is not None:
                ws.write_string(r, c, value)
    workbook.close()


# ----------------------------------------------------------------- the world


def generate(
    out_dir: Path | str,
    *,
    factories: int = 60,
    workers: int = 12_000,
    months: int = 12,
    end_period: str = "2025-12",
    countries: tuple[str, ...] = DEFAULT_COUNTRIES,
    seed: int = 20251231,
    bad_rows: bool = True,
    risk_signal: float = 0.0,
    progress: Callable[[str], None] | None = None,
) -> dict:
    """Write sample extracts under `out_dir/<source>/<ISO3>/`; return (and write) the manifest."""
    say = progress or (lambda _msg: None)
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(seed)
    periods = _periods(end_period, months)
    manifest: dict = {
        "params": {
            "factories": factories,
            "workers": workers,
            "months": months,
            "end_period": end_period,
            "countries": list(countries),
            "seed": seed,
            "bad_rows": bad_rows,
            "risk_signal": risk_signal,
        },
        "bad_rows": [],
        "duplicate_files": [],
        "superseded_rows": [],
        "files": 0,
    }
    writer = _Writer(out, manifest)
    shares = np.array([WORLD[c].share for c in countries])
    n_fact = np.maximum(4, np.round(factories * shares / shares.sum()).astype(int))
    n_work = np.maximum(n_fact * 20, np.round(workers * shares / shares.sum()).astype(int))
    for i, country in enumerate(countries):
        say(f"  {country}: {n_fact[i]} factories, {n_work[i]:,} workers, {months} months")
        _country(writer, rng, country, int(n_fact[i]), int(n_work[i]), periods, bad_rows, risk_signal)
    generated = sorted(f for f in out.rglob("*") if f.is_file() and not f.name.startswith("."))
    manifest["files"] = len(generated)
    # what the generator wrote, so that the public development key pseudonymises these files only
    # (assets/ingestion/pseudonyms.py)
    manifest["fingerprints"] = {f.relative_to(out).as_posix(): generated_fingerprint(f) for f in generated}
    (out / MANIFEST).write_text(json.dumps(manifest, indent=1, ensure_ascii=False), encoding="utf-8")
    return manifest


def _country(
    w: _Writer,
    rng: np.random.Generator,
    country: str,
    n_fact: int,
    n_work: int,
    periods: list[str],
    bad: bool,
    risk_signal: float = 0.0,
) -> None:
    world = WORLD[country]
    end_year = int(periods[-1][:4])
    register = _factories(rng, country, world, n_fact, n_work, end_year)
    w.write(_register_frame(register, world), country, "factories", "factory_register")
    active = register.filter(pl.col("active"))
    staff = _workers(rng, country, world, active, periods)
    _assessments(
        w,
        rng,
        country,
        world,
        register.filter(pl.col("enrolment") <= dt.date(end_year, 12, 31)),
        end_year,
        bad,
        risk_signal,
    )
    _picc(w, rng, country, world, active, end_year, bad)
    _survey(w, rng, country, active, staff, periods, bad)
    _pay_and_social_security(w, rng, country, world, active, staff, periods, bad)


def _factories(rng, country: str, world: CountryWorld, n: int, n_work: int, end_year: int) -> pl.DataFrame:
    ids = 1000 + np.arange(n) * 7 + rng.integers(0, 5, n)
    # years in the programme by the sample's year: 0..10, so every YIP group is present
    enrol_years = end_year - rng.choice(
        np.arange(0, 11), n, p=_norm([0.14, 0.13, 0.12, 0.1, 0.1, 0.09, 0.08, 0.07, 0.06, 0.06, 0.05])
    )
    enrol = [
        dt.date(int(y), int(m), int(d))
        for y, m, d in zip(enrol_years, rng.integers(1, 13, n), rng.integers(1, 29, n), strict=True)
    ]
    obsolete = rng.random(n) < 0.06
    active = ~obsolete & (rng.random(n) > 0.03)
    sizes = rng.lognormal(0, 0.8, n)
    sizes[~active] = 0
    sizes = sizes / sizes.sum() * n_work
    sizes = np.where(active, np.maximum(20, np.round(sizes)), 0).astype(int)
    states = list(world.states)
    return pl.DataFrame(
        {
            "factory_id": ids.astype(np.int64),
            "name": [
                f"{country.title()} Garment {i:04d}{' (Obsolete)' if o else ''}"
                for i, o in zip(ids, obsolete, strict=True)
            ],
            "state": rng.choice(states, n),
            "enrolment": pl.Series(enrol, dtype=pl.Date),
            "active": active,
            "size": sizes,
            "product": rng.choice(["Woven", "Knit", "Footwear", "Sweater"], n, p=[0.4, 0.4, 0.1, 0.1]),
            # factory traits behind the planted structure
            "heavy_overtime": rng.random(n) < 0.2,
            "low_payer": rng.random(n) < 0.15,
            "poor_registration": rng.random(n) < 0.2,
            "compliance": rng.lognormal(0, 0.5, n),
        }
    )


def _norm(p):
    p = np.asarray(p, float)
    return p / p.sum()


def _register_frame(reg: pl.DataFrame, world: CountryWorld) -> pl.DataFrame:
    female = np.round(reg["size"].to_numpy() * world.female_share).astype(int)
    return pl.DataFrame(
        {
            "ID": reg["factory_id"],
            "Name": reg["name"],
            "Country Code": [world.iso2] * reg.height,
            "State": reg["state"],
            "Enrolment Date": [d.strftime("%d/%m/%Y") for d in reg["enrolment"]],
            "Status": np.where(reg["active"].to_numpy(), "Active", "Inactive"),
            "Total Workers": reg["size"],
            "Female Workers": female,
            "Male Workers": reg["size"].to_numpy() - female,
            "First Product": reg["product"],
        }
    )


def _workers(rng, country: str, world: CountryWorld, active: pl.DataFrame, periods: list[str]) -> dict:
    sizes = active["size"].to_numpy()
    fidx = np.repeat(np.arange(active.height), sizes)
    n = fidx.size
    occ_names = list(OCCUPATION_MIX)
    occ_p = _norm([v[0] for v in OCCUPATION_MIX.values()])
    occ = rng.choice(len(occ_names), n, p=occ_p)
    fem_mult = np.array([v[2] for v in OCCUPATION_MIX.values()])[occ]
    female = rng.random(n) < np.clip(world.female_share * fem_mult, 0.02, 0.97)
    minimum = np.array([world.states[s] for s in active["state"].to_list()])[fidx]
    wage_mult = np.array([v[1] for v in OCCUPATION_MIX.values()])[occ]
    base = minimum * wage_mult * rng.lognormal(0.04, 0.08, n)
    low = active["low_payer"].to_numpy()[fidx] & (rng.random(n) < 0.35)
    below = low | (rng.random(n) < 0.02)
    base = np.where(below & (occ <= 1), minimum * rng.uniform(0.8, 0.97, n), base)
    start = np.datetime64(_month_start(periods[0]))
    hire = start - rng.integers(0, 365 * 8, n).astype("timedelta64[D]")
    birth = hire - rng.integers(18 * 365, 45 * 365, n).astype("timedelta64[D]")
    m = len(periods)
    first_month = np.where(rng.random(n) < 0.12, rng.integers(0, m, n), 0)
    last_month = np.where(rng.random(n) < 0.12, rng.integers(0, m, n), m - 1)
    first_month, last_month = np.minimum(first_month, last_month), np.maximum(first_month, last_month)
    hire = np.where(
        first_month > 0,
        np.array([np.datetime64(_month_start(p)) for p in periods])[first_month]
        + rng.integers(0, 20, n).astype("timedelta64[D]"),
        hire,
    )
    poor = active["poor_registration"].to_numpy()[fidx]
    never_registered = rng.random(n) < np.where(poor, 0.3, 0.04)
    reg_delay = np.where(rng.random(n) < 0.08, rng.integers(60, 240, n), rng.integers(0, 4, n))
    digital = rng.random(n) < 0.55
    payment = np.where(digital, np.where(rng.random(n) < 0.7, "bank", "mobile"), "cash")
    serial = 10 ** (world.id_digits - 1) + np.arange(n, dtype=np.int64) * 37 + rng.integers(0, 37, n)  # unique
    national_id = serial.astype(str) if country == "VNM" else np.char.add(world.iso2, serial.astype(str))
    names = np.char.add(
        np.char.add(
            np.where(
                female, np.array(FIRST_NAMES_F)[rng.integers(0, 10, n)], np.array(FIRST_NAMES_M)[rng.integers(0, 10, n)]
            ),
            " ",
        ),
        np.array(LAST_NAMES)[rng.integers(0, 10, n)],
    )
    return {
        "n": n,
        "fidx": fidx,
        "factory_id": active["factory_id"].to_numpy()[fidx],
        "occupation": np.array(occ_names)[occ],
        "female": female,
        "base": base,
        "hire": hire,
        "birth": birth,
        "first_month": first_month,
        "last_month": last_month,
        "never_registered": never_registered,
        "registration": hire + reg_delay.astype("timedelta64[D]"),
        "payment": payment,
        "national_id": national_id,
        "employee_no": np.char.add("E", np.arange(1, n + 1).astype(str)),
        "contract": rng.choice(["open_ended", "fixed_term", "casual", "probation"], n, p=[0.55, 0.35, 0.05, 0.05]),
        "pay_basis": rng.choice(["monthly", "daily", "piece"], n, p=[0.7, 0.15, 0.15]),
        "name": names,
        "offsets": np.concatenate([[0], np.cumsum(sizes)]),
    }


def _money(x: np.ndarray, decimals: int) -> np.ndarray:
    return np.round(x, decimals)


def _pay_and_social_security(
    w: _Writer, rng, country: str, world: CountryWorld, active: pl.DataFrame, s: dict, periods: list[str], bad: bool
) -> None:
    enrol = _days(np.array(active["enrolment"].to_list(), dtype="datetime64[D]"))
    heavy = active["heavy_overtime"].to_numpy()
    fem_labels = SEX_LABELS[country]
    first_path = last_path = None
    for m, period in enumerate(periods):
        on = (s["first_month"] <= m) & (s["last_month"] >= m)
        idx = np.nonzero(on)[0]
        k = idx.size
        fidx = s["fidx"][idx]
        month_start = np.datetime64(_month_start(period))
        yip = np.clip(((month_start - enrol[fidx]).astype(int) // 365), 0, 4)
        penalty = np.where(s["female"][idx], GAP_BY_YIP[yip], 0.0)
        partial = rng.random(k) < 0.06
        days = np.where(partial, rng.integers(8, 24, k), 26)
        regular = np.round(days * world.regular_hours_month / 26, 1)
        ot_mean = np.where(heavy[fidx], 70.0, 22.0)
        overtime = np.clip(np.round(rng.gamma(2.0, ot_mean / 2.0) * 2) / 2, 0, 180)
        base = s["base"][idx] * (1 - penalty)
        basic = _money(base * days / 26, world.money_decimals)
        rate = base / world.regular_hours_month
        ot_pay = _money(overtime * rate * world.overtime_premium, world.money_decimals)
        allowances = _money(np.full(k, world.allowance) * days / 26, world.money_decimals)
        bonuses = _money(np.where(rng.random(k) < 0.1, base * 0.1, 0.0), world.money_decimals)
        registered = ~s["never_registered"][idx] & (s["registration"][idx] <= np.datetime64(_month_end(period)))
        has_scheme = world.scheme is not None
        ss_employee = _money(
            np.where(registered & has_scheme, basic * world.employee_rate / 100, 0.0), world.money_decimals
        )
        deductions = _money(ss_employee + np.where(rng.random(k) < 0.05, base * 0.02, 0), world.money_decimals)
        net = _money(basic + ot_pay + allowances + bonuses - deductions, world.money_decimals)
        sex = np.where(s["female"][idx], fem_labels[0], fem_labels[1])
        date_fmt = "%d/%m/%Y" if country == "VNM" else "%Y-%m-%d"
        payroll = pl.DataFrame(
            {
                "factory_id": s["factory_id"][idx],
                "period": [period] * k,
                "employee_no": s["employee_no"][idx],
                "national_id": s["national_id"][idx],
                "worker_name": s["name"][idx],
                "sex": sex,
                "birth_date": s["birth"][idx],
                "hire_date": s["hire"][idx],
                "occupation": s["occupation"][idx],
                "contract_type": s["contract"][idx],
                "pay_basis": s["pay_basis"][idx],
                "days_worked": days,
                "regular_hours": regular,
                "overtime_hours": overtime,
                "basic_pay": basic,
                "overtime_pay": ot_pay,
                "allowances": allowances,
                "bonuses": bonuses,
                "deductions": deductions,
                "social_security_employee": ss_employee,
                "net_pay": net,
                "currency": [world.currency] * k,
                "payment_method": s["payment"][idx],
            }
        ).with_columns(pl.col("birth_date", "hire_date").dt.strftime(date_fmt))
        payroll = _format_numbers(payroll, country)
        if bad and m == 0:
            payroll = _plant_payroll(rng, country, payroll)
        path = w.write(
            payroll if not (bad and m == 0) else payroll.drop("_kind"), country, "payroll", f"payroll_{period}"
        )
        if bad and m == 0:
            _record(w, "payroll", country, path, payroll)
            first_path = path
        last_path, last_frame = path, payroll.drop("_kind", strict=False)
        if has_scheme:
            _social_security(w, rng, country, world, s, idx, registered, basic, period, date_fmt, bad and m == 0)
    if bad and first_path is not None and country == "BGD":
        copy = first_path.with_name(first_path.stem + "_resent" + first_path.suffix)
        shutil.copyfile(first_path, copy)
        _later(copy)
        w.manifest["duplicate_files"].append(f"payroll/{country}/{copy.name}")
    if bad and len(periods) > 1 and country == "KHM":
        _correction(w, country, last_path, last_frame)


def _format_numbers(frame: pl.DataFrame, country: str) -> pl.DataFrame:
    """Numbers as the country writes them (decimal commas in Indonesia)."""
    floats = [c for c, t in frame.schema.items() if t.is_float()]
    frame = frame.with_columns(pl.col(c).cast(pl.String) for c in frame.columns)
    if country == "IDN":
        frame = frame.with_columns(pl.col(floats).str.replace(".", ",", literal=True))
    return frame


def _later(path: Path, seconds: int = 3600) -> None:
    """Deliveries are ordered by file time: make this one arrive after the others."""
    t = path.stat().st_mtime + seconds
    os.utime(path, (t, t))


def _correction(w: _Writer, country: str, last_path: Path, frame: pl.DataFrame) -> None:
    """A partner re-sends 10 corrected pay rows of the last month in a later file."""
    picked = frame.head(10).with_columns(pl.col("basic_pay").cast(pl.Float64).mul(1.02).round(2).cast(pl.String))
    path = last_path.with_name(last_path.stem + "_correction.csv")
    picked.write_csv(path)
    _later(path)
    for i in range(picked.height):
        w.manifest["superseded_rows"].append(
            {
                "source": "payroll",
                "country": country,
                "file": f"payroll/{country}/{last_path.name}",
                "row": i + 2,
                "by": f"payroll/{country}/{path.name}",
            }
        )


def _plant_payroll(rng, country: str, frame: pl.DataFrame) -> pl.DataFrame:
    """Break a few rows of the month's file in every way the contract names; keep a `_kind` column."""
    frame = frame.with_columns(pl.lit(None, pl.String).alias("_kind"))
    bad_cells = [
        ("sex", "X", "unknown sex code"),
        ("regular_hours", "-8", "negative hours"),
        ("overtime_hours", "950", "absurd overtime hours"),
        ("period", "2025-13" if frame["period"][0][:4] == "2025" else "2024-13", "period that is no month"),
        ("factory_id", "999999", "factory absent from the register"),
        ("hire_date", "31/02/2024" if country == "VNM" else "2024-02-31", "impossible date"),
        ("basic_pay", "-100", "negative pay"),
    ]
    rows = rng.choice(np.arange(5, frame.height), len(bad_cells), replace=False)
    for (column, value, kind), row in zip(bad_cells, rows, strict=True):
        name = column
        frame = frame.with_columns(
            pl.when(pl.int_range(pl.len()) == int(row)).then(pl.lit(value)).otherwise(pl.col(name)).alias(name),
            pl.when(pl.int_range(pl.len()) == int(row)).then(pl.lit(kind)).otherwise(pl.col("_kind")).alias("_kind"),
        )
    # an exact duplicate of a clean row, and a conflicting second row for another worker's key
    clean = frame.with_row_index("_i").filter(pl.col("_kind").is_null()).head(4)
    exact = clean.slice(0, 1).drop("_i").with_columns(pl.lit("duplicate row").alias("_kind"))
    conflict_src = clean.slice(1, 1)
    conflict = conflict_src.drop("_i").with_columns(
        pl.lit("77777").alias("net_pay"), pl.lit("conflicting duplicate key").alias("_kind")
    )
    frame = frame.with_columns(
        pl.when(pl.int_range(pl.len()) == int(conflict_src["_i"][0]))
        .then(pl.lit("conflicting duplicate key"))
        .otherwise(pl.col("_kind"))
        .alias("_kind")
    )
    return pl.concat([frame, exact, conflict])


def _write_planted(w: _Writer, frame: pl.DataFrame, country: str, source: str, stem: str, plants: list[tuple]) -> None:
    """Write a file after breaking the cells `plants` lists (row index, column, bad value, kind); record them."""
    frame = frame.with_columns(pl.lit(None, pl.String).alias("_kind"))
    for row, column, value, kind in plants:
        hit = pl.int_range(pl.len()) == row
        frame = frame.with_columns(
            pl.when(hit).then(pl.lit(value)).otherwise(pl.col(column)).alias(column),
            pl.when(hit).then(pl.lit(kind)).otherwise(pl.col("_kind")).alias("_kind"),
        )
    path = w.write(frame.drop("_kind"), country, source, stem)
    _record(w, source, country, path, frame)


def _record(w: _Writer, source: str, country: str, path: Path, frame: pl.DataFrame) -> None:
    for i, kind in enumerate(frame["_kind"].to_list()):
        if kind is not None:
            w.plant(source, country, path, i, kind)


def _social_security(w, rng, country, world, s, idx, registered, basic, period, date_fmt, bad) -> None:
    keep = registered
    k = int(keep.sum())
    paid = rng.random(k) < 0.92
    pay_date = np.datetime64(_month_end(period)) + rng.integers(5, 15, k).astype("timedelta64[D]")
    insurable = basic[keep]
    factor = np.where(paid, np.where(rng.random(k) < 0.03, 0.5, 1.0), 0.0)
    ids = s["national_id"][idx][keep]
    frame = pl.DataFrame(
        {
            "factory_id": s["factory_id"][idx][keep],
            "period": [period] * k,
            "national_id": ids,
            "registration_date": s["registration"][idx][keep],
            "insurable_wage": insurable,
            "employer_contribution": _money(insurable * world.employer_rate / 100 * factor, world.money_decimals),
            "employee_contribution": _money(insurable * world.employee_rate / 100 * factor, world.money_decimals),
            "paid_date": np.where(paid, pay_date, np.datetime64("NaT")),
            "scheme": [world.scheme] * k,
        }
    ).with_columns(pl.col("registration_date", "paid_date").dt.strftime(date_fmt))
    if country == "KHM":  # the scheme writes ids with a space: the same person once normalised
        frame = frame.with_columns(pl.col("national_id").str.slice(0, 2) + " " + pl.col("national_id").str.slice(2))
    frame = _format_numbers(frame, country)
    plants = (
        [
            (3, "period", "2025-00", "period that is no month"),
            (6, "insurable_wage", "-5" if country != "IDN" else "-5,0", "negative wage"),
        ]
        if bad
        else []
    )
    _write_planted(w, frame, country, "social_security", f"social_security_{period}", plants)


# The inspectors' risk ranking's planted relation (issue 31): a factory's payroll traits raise its chance of a
# non-compliance in the matching cluster, by these factors times `risk_signal` (0, the default, plants nothing: the
# default sample is the same bits as before; the traits also shape the payroll, so the relation runs from payroll
# signals to later findings, noisily: each question is still drawn at random).
RISK_TRAITS = {
    "Compensation": ("low_payer", 1.5),
    "Working Time": ("heavy_overtime", 0.8),
    "Contracts and Human Resources": ("poor_registration", 1.5),
}


def _assessments(w, rng, country, world, reg: pl.DataFrame, end_year: int, bad: bool, risk_signal: float = 0.0) -> None:
    rows = []
    quest_id = {"BGD": 10000, "KHM": 20000, "VNM": 30000, "IDN": 40000, "JOR": 50000, "HTI": 60000}.get(country, 70000)
    for f in reg.iter_rows(named=True):
        first_year = max(f["enrolment"].year, end_year - 3)
        for year in range(first_year, end_year + 1):
            quest_id += 1
            cycle = year - f["enrolment"].year + 1
            start = dt.date(year, int(rng.integers(1, 12)), int(rng.integers(1, 28)))
            tool = "Garment CAT V2" if year >= end_year - 1 else "Garment CAT"
            improve = 0.85 ** (cycle - 1)
            for q, (cluster, cp, label, public) in enumerate(QUESTIONS):
                trait, factor = RISK_TRAITS.get(cluster, (None, 0.0))
                planted = 1 + risk_signal * factor * bool(trait and f[trait])
                p = min(0.95, NC_PROPENSITY[cluster] * f["compliance"] * improve * planted)
                finding = int(rng.random() < p)
                shown = label if tool == "Garment CAT" else label.replace("Does the employer", "Did the employer")
                dirt = rng.random()
                shown = (
                    shown.replace(" ", "\r\n", 1)
                    if dirt < 0.1
                    else shown[:-1] + " ?"
                    if dirt < 0.2
                    else shown + " *"
                    if dirt < 0.25
                    else shown
                )
                rows.append(
                    (
                        world.name,
                        cycle,
                        quest_id,
                        f["factory_id"],
                        f["name"],
                        start.strftime("%d/%m/%Y"),
                        cluster,
                        cp,
                        shown,
                        f"Q{q + 1:03d}",
                        "NCQ",
                        str(finding),
                        "Public Disclosure" if public else "",
                        tool,
                    )
                )
            for cluster, cp, qid, label in FGW_QUESTIONS:
                rows.append(
                    (
                        world.name,
                        cycle,
                        quest_id,
                        f["factory_id"],
                        f["name"],
                        start.strftime("%d/%m/%Y"),
                        cluster,
                        cp,
                        label,
                        qid,
                        "FGW",
                        str(int(rng.integers(0, 60))),
                        "",
                        tool,
                    )
                )
    frame = pl.DataFrame(
        rows,
        orient="row",
        schema=[
            "Country",
            "Cycle",
            "Quest ID",
            "Factory Assessed ID",
            "Factory Assessed Name",
            "Assesment Start Date",
            "Cluster",
            "CP",
            "Q Label",
            "Question ID",
            "Question type",
            "Finding",
            "Tags",
            "TQ Name",
        ],
    )
    frame = frame.with_columns(pl.all().cast(pl.String))
    if bad:
        frame = frame.with_columns(pl.lit(None, pl.String).alias("_kind"))
        row = 2
        frame = frame.with_columns(
            pl.when(pl.int_range(pl.len()) == row).then(pl.lit("2")).otherwise(pl.col("Finding")).alias("Finding"),
            pl.when(pl.int_range(pl.len()) == row)
            .then(pl.lit("NCQ finding not 0/1"))
            .otherwise(pl.col("_kind"))
            .alias("_kind"),
        )
        path = w.write(frame.drop("_kind"), country, "assessments", "assessments_export")
        _record(w, "assessments", country, path, frame)
    else:
        w.write(frame, country, "assessments", "assessments_export")


def _picc(w, rng, country, world, active: pl.DataFrame, end_year: int, bad: bool) -> None:
    rows = []
    for f in active.iter_rows(named=True):
        if rng.random() > 0.75:
            continue
        for side, count, p_f in (
            ("Workers", int(rng.integers(4, 9)), world.female_share * 0.65),
            ("Management", int(rng.integers(2, 5)), 0.3),
        ):
            for j in range(count):
                fem = rng.random() < p_f
                title = rng.choice(["Ms.", "Mrs.", "Miss"]) if fem else "Mr."
                joined = dt.date(
                    int(rng.integers(end_year - 6, end_year + 1)), int(rng.integers(1, 13)), int(rng.integers(1, 29))
                )
                left = joined + dt.timedelta(days=int(rng.integers(90, 900))) if rng.random() < 0.2 else None
                if left and left > dt.date(end_year, 12, 31):
                    left = None
                first = (FIRST_NAMES_F if fem else FIRST_NAMES_M)[int(rng.integers(0, 10))]
                rows.append(
                    (
                        world.name,
                        str(f["factory_id"]),
                        title,
                        first,
                        f"{LAST_NAMES[int(rng.integers(0, 10))]}-{f['factory_id']}-{side[0]}{j}",
                        str(rng.choice(POSITIONS_W if side == "Workers" else POSITIONS_M)),
                        side,
                        joined.strftime("%d/%m/%Y"),
                        left.strftime("%d/%m/%Y") if left else "",
                        "Yes" if (side == "Management" and j == 0) else "No",
                    )
                )
    frame = pl.DataFrame(
        rows,
        orient="row",
        schema=[
            "Country",
            "Factory ID",
            "Title",
            "First Name",
            "Last Name",
            "Position",
            "Category",
            "Date Joined",
            "Date Left",
            "Is Current Chair",
        ],
    )
    plants = [(1, "Title", "Dr.", "unknown title"), (3, "Date Left", "01/01/2001", "left before joining")]
    _write_planted(w, frame, country, "picc_members", "picc_members", plants if bad and frame.height > 4 else [])


def _survey(w, rng, country, active: pl.DataFrame, s: dict, periods: list[str], bad: bool) -> None:
    """A survey round or two in the last year's factories (the last 330 days), and, in a sample of several years, a
    round a year before that, so that the risk ranking's survey feature has a value at every planning date."""
    parts = []
    end = _month_end(periods[-1])
    for fi, f in enumerate(active.iter_rows(named=True)):
        if rng.random() > 0.6:
            continue
        for rnd in (1, 2) if rng.random() < 0.4 else (1,):
            days = 330 if rnd == 1 else 120
            parts.append(
                _survey_round(
                    rng, country, f, s, fi, rnd, lambda days=days: end - dt.timedelta(int(rng.integers(0, days)))
                )
            )
    first = _month_start(periods[0])
    earlier = range(first.year, int(periods[-1][:4])) if len(periods) > 12 else ()  # none in the default's one year
    for year in earlier:
        start = max(first, dt.date(year, 1, 1))
        span = (dt.date(year, 12, 31) - start).days
        for fi, f in enumerate(active.iter_rows(named=True)):
            if rng.random() > 0.6:
                continue
            when = lambda start=start, span=span: start + dt.timedelta(int(rng.integers(0, span)))  # noqa: E731
            parts.append(_survey_round(rng, country, f, s, fi, 1, when, tag=str(year)))
    if not parts:
        return
    frame = pl.concat(parts).with_columns(pl.all().cast(pl.String))
    plants = [(2, "sex", "9", "unknown sex code"), (4, "comfort_union", "7", "answer out of range")]
    _write_planted(w, frame, country, "worker_survey", "worker_survey", plants if bad and frame.height > 5 else [])


def _survey_round(rng, country, f: dict, s: dict, fi: int, rnd: int, when, tag: str = "") -> pl.DataFrame:
    """One round's respondents in factory `f` (10 % of its workers, 10 to 80), interviewed on `when()`; `tag` tells
    apart the respondent ids of rounds in earlier years."""
    in_factory = np.arange(s["offsets"][fi], s["offsets"][fi + 1])
    n = int(np.clip(in_factory.size * 0.1, 10, 80))
    pick = rng.choice(in_factory, n, replace=in_factory.size < n)
    female = s["female"][pick]
    date = when()

    def flag(p):
        v = (rng.random(n) < p).astype(int)
        return np.where(rng.random(n) < 0.03, rng.choice([-98, -99], n), v)

    has_picc = rng.random() < 0.8  # elsewhere workers answer 6 = "this factory has no PICC"

    def likert():
        v = rng.choice([1, 2, 3, 4, 5], n, p=[0.3, 0.3, 0.2, 0.1, 0.1])
        return np.where(rng.random(n) < 0.03, -98, v)

    return pl.DataFrame(
        {
            "respondent_id": [f"R{f['factory_id']}-{tag}{rnd}-{i:03d}" for i in range(n)],
            "factory_id": np.full(n, f["factory_id"]),
            "survey_date": [date.strftime("%d/%m/%Y") if country == "VNM" else date.isoformat()] * n,
            "round": np.full(n, rnd),
            "sex": np.where(female, "2", "1") if country in SURVEY_SEX_12 else np.where(female, "F", "M"),
            "age_band": rng.choice(
                ["<18", "18-20", "21-25", "26-30", "31-35", "36-40", "40+"],
                n,
                p=[0.01, 0.1, 0.3, 0.25, 0.17, 0.1, 0.07],
            ),
            "migrant": flag(0.2 if country == "JOR" else 0.05),
            "union_member": flag(0.25),
            "picc_exists": np.where(has_picc, flag(0.8), 0),
            "concern_sexual_harassment": flag(np.where(female, 0.22, 0.08)),
            "concern_verbal_abuse": flag(0.3),
            "concern_dangerous_equipment": flag(0.18),
            "concern_accidents": flag(0.2),
            "concern_late_pay": flag(0.12),
            "comfort_supervisor": likert(),
            "comfort_union": likert(),
            "comfort_picc": likert() if has_picc else np.full(n, 6),
        }
    )
