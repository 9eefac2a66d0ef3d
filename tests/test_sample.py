"""The sample generator: seeded (same seed, same bytes), every source and layout, every kind of bad row."""

import hashlib

from decentwork.sample import generate, scale_params


def _digest(folder):
    return {
        p.relative_to(folder).as_posix(): hashlib.sha256(p.read_bytes()).hexdigest()
        for p in sorted(folder.rglob("*"))
        if p.is_file()
    }


def test_same_seed_same_files_and_every_source_and_layout(tmp_path):
    first = generate(tmp_path / "a", factories=20, workers=1500, months=2)
    generate(tmp_path / "b", factories=20, workers=1500, months=2)
    a, b = _digest(tmp_path / "a"), _digest(tmp_path / "b")
    assert a == b
    assert {name.split("/")[0] for name in a if "/" in name} == {
        "factories",
        "assessments",
        "picc_members",
        "payroll",
        "social_security",
        "worker_survey",
    }
    assert any(n.startswith("payroll/JOR/") and n.endswith(".xlsx") for n in a)
    header = (tmp_path / "a" / "payroll" / "VNM").glob("*.csv").__next__().read_text(encoding="utf-8").splitlines()[0]
    assert "Giới tính" in header
    idn = next((tmp_path / "a" / "payroll" / "IDN").glob("*.csv")).read_text(encoding="utf-8").splitlines()[1]
    assert ";" in idn and "," in idn  # semicolons between fields, decimal commas inside
    kinds = {b["kind"] for b in first["bad_rows"]}
    for kind in (
        "unknown sex code",
        "negative hours",
        "period that is no month",
        "factory absent from the register",
        "duplicate row",
        "conflicting duplicate key",
        "impossible date",
    ):
        assert kind in kinds


def test_scale_one_is_the_full_programme():
    assert scale_params(1) == {"factories": 1700, "workers": 2_400_000, "months": 12}
