"""Shared fixtures: a temporary data root so no test touches data/."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from decentwork.settings import Paths

PAYROLL_HEADER = (
    "factory_id,period,employee_no,national_id,worker_name,sex,birth_date,hire_date,occupation,contract_type,pay_basis,"
    "days_worked,regular_hours,overtime_hours,basic_pay,overtime_pay,allowances,bonuses,deductions,"
    "social_security_employee,net_pay,currency,payment_method"
)
REGISTER_HEADER = (
    "ID,Name,Country Code,State,Enrolment Date,Status,Total Workers,Female Workers,Male Workers,First Product"
)


@pytest.fixture
def data_root(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Paths:
    root = tmp_path / "data"
    (root / "raw").mkdir(parents=True)
    monkeypatch.setenv("DECENTWORK_DATA_DIR", str(root))
    return Paths(root)


def deliver(paths: Paths, source: str, country: str, name: str, text: str, mtime: float | None = None) -> Path:
    """Drop a delivery under raw/<source>/<country>/ (optionally with a delivery time)."""
    target = paths.raw_dir(source, country) / name
    target.parent.mkdir(parents=True, exist_ok=True)
    target.write_text(text, encoding="utf-8")
    if mtime is not None:
        os.utime(target, (mtime, mtime))
    return target
