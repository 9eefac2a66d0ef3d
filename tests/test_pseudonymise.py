"""Pseudonyms: keyed, stable across spellings of the same id, and linkable only with the key."""

import hashlib
import hmac
import random
import shutil

import polars as pl
import pytest

from assets.ingestion.pseudonyms import (
    SAMPLE_MANIFEST,
    Digests,
    KeyRefused,
    hmac_hex,
    key_fingerprint,
    normalise_id,
    pseudonym_key,
    pseudonymise,
    record_key,
)
from decentwork.sample import generate
from decentwork.settings import DEV_PSEUDONYM_KEY, Paths
from schemas.canonical import EXTRACTS
from tests.conftest import PAYROLL_HEADER


def test_hmac_matches_rfc4231_test_case_2():
    # RFC 4231, test case 2: key "Jefe", data "what do ya want for nothing?"
    out = hmac_hex(b"Jefe", pl.Series(["what do ya want for nothing?"]))
    assert out[0] == "5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843"


@pytest.mark.parametrize("key_length", [1, 32, 63, 64, 65, 200])
def test_pseudonyms_are_the_standard_librarys_hmac_for_any_key_and_id(key_length):
    """`hmac_hex` computes HMAC by its definition (RFC 2104) from copied hash states, for speed: it must equal the
    standard library's HMAC for keys shorter than, equal to and longer than SHA-256's 64-byte block (a longer key
    is hashed first), for ids in any script, with nulls kept null, and whether the digests are new or known."""
    rng = random.Random(key_length)
    key = bytes(rng.randrange(256) for _ in range(key_length))
    alphabet = ["KH", "ID", "é", "ဗ", "\u200b", "ß", "漢", "-", " ", ""]
    ids = [None if rng.random() < 0.05 else rng.choice(alphabet) + str(rng.randrange(3000)) for _ in range(6000)]
    known = Digests()
    first, second = hmac_hex(key, pl.Series(ids[:4000]), known), hmac_hex(key, pl.Series(ids[2000:]), known)

    def expected(values):
        return [None if v is None else hmac.new(key, v.encode("utf-8"), hashlib.sha256).hexdigest() for v in values]

    assert first.to_list() == expected(ids[:4000])
    assert second.to_list() == expected(ids[2000:])  # half known from the first call, half new
    assert known.table.height == len({v for v in ids if v is not None})


def test_spellings_of_one_id_share_a_pseudonym_and_differ_from_others():
    ids = pl.Series(["kh-001 234", "KH001234", " KH.001.234 ", "KH001235"])
    normalised = pl.select(normalise_id(pl.lit(ids))).to_series()
    out = hmac_hex(b"k", normalised)
    assert out[0] == out[1] == out[2] != out[3]
    assert out[0] == hmac.new(b"k", b"KH001234", hashlib.sha256).hexdigest()


def test_another_key_gives_unlinkable_pseudonyms():
    ids = pl.Series(["A1", "B2"])
    assert set(hmac_hex(b"key-1", ids)).isdisjoint(set(hmac_hex(b"key-2", ids)))


def test_personal_columns_are_dropped_and_raw_ids_never_kept():
    frame = pl.DataFrame(
        {
            "factory_id": [1],
            "national_id": ["ID-9"],
            "employee_no": ["E1"],
            "worker_name": ["Nguyen Van A"],
            "sex": ["F"],
        }
    )
    out = pseudonymise(frame, EXTRACTS["payroll"], b"k")
    assert {"national_id", "employee_no", "worker_name"}.isdisjoint(out.columns)
    assert out["worker_pid"][0] == hmac.new(b"k", b"ID9", hashlib.sha256).hexdigest()
    assert "ID-9" not in str(out.to_dicts())


# ------------------------------------------------------------------------------ which key may be used
GOOD_KEY = "k" * 32


@pytest.fixture
def generated(data_root: Paths) -> Paths:
    generate(data_root.raw, factories=4, workers=80, months=1, countries=("KHM",))
    return data_root


def _no_key(monkeypatch, env: str | None = None) -> None:
    monkeypatch.delenv("DECENTWORK_PSEUDONYM_KEY", raising=False)
    if env is None:
        monkeypatch.delenv("DECENTWORK_ENV", raising=False)
    else:
        monkeypatch.setenv("DECENTWORK_ENV", env)


def test_a_generated_sample_may_use_the_development_key(generated, monkeypatch, caplog):
    _no_key(monkeypatch)
    assert pseudonym_key(generated) == DEV_PSEUDONYM_KEY.encode()
    assert "public development key" in caplog.text


@pytest.mark.parametrize("env", [None, "development", "test", "production"])
def test_a_delivery_the_generator_did_not_write_refuses_the_development_key(generated, monkeypatch, env):
    _no_key(monkeypatch, env)
    foreign = generated.raw_dir("payroll", "KHM") / "from_the_ministry.csv"
    foreign.write_text(PAYROLL_HEADER + "\n", encoding="utf-8")
    with pytest.raises(KeyRefused, match="DECENTWORK_PSEUDONYM_KEY"):
        pseudonym_key(generated)


@pytest.mark.parametrize(
    "change", ["appended", "replaced", "renamed", "another folder", "no manifest", "broken manifest"]
)
def test_any_change_to_a_generated_root_refuses_the_development_key(generated, monkeypatch, change):
    _no_key(monkeypatch)
    payroll = sorted(generated.raw_dir("payroll", "KHM").glob("*.csv"))[0]
    if change == "appended":
        with payroll.open("a", encoding="utf-8") as fh:
            fh.write("1,2025-01,E9,KH999,Real Person,F,,,,,,,,,,,,,,,,,\n")
    elif change == "replaced":  # same size, other bytes
        text = payroll.read_bytes()
        payroll.write_bytes(text[:-3] + (b"999" if text[-3:] != b"999" else b"888"))
    elif change == "renamed":
        payroll.rename(payroll.with_name("renamed.csv"))
    elif change == "another folder":
        (generated.raw / "payroll" / "VNM").mkdir()
        shutil.copy(payroll, generated.raw / "payroll" / "VNM" / payroll.name)
    elif change == "no manifest":
        (generated.raw / SAMPLE_MANIFEST).unlink()
    else:
        (generated.raw / SAMPLE_MANIFEST).write_text("{not json", encoding="utf-8")
    with pytest.raises(KeyRefused, match="not written by the sample generator"):
        pseudonym_key(generated)


def test_production_refuses_without_a_key_even_for_a_sample(generated, monkeypatch):
    _no_key(monkeypatch, "production")
    with pytest.raises(KeyRefused, match="DECENTWORK_PSEUDONYM_KEY is not set"):
        pseudonym_key(generated)


@pytest.mark.parametrize("key", ["s3cret", "x" * 31, " " * 10])
def test_a_short_key_is_refused(generated, monkeypatch, key):
    monkeypatch.setenv("DECENTWORK_PSEUDONYM_KEY", key)
    with pytest.raises(KeyRefused, match="at least 32"):
        pseudonym_key(generated)


def test_the_public_development_key_is_refused_as_a_secret(generated, monkeypatch):
    monkeypatch.setenv("DECENTWORK_PSEUDONYM_KEY", DEV_PSEUDONYM_KEY)
    with pytest.raises(KeyRefused, match="public development key"):
        pseudonym_key(generated)


def test_a_file_dropped_in_after_the_check_is_not_pseudonymised_with_the_development_key(generated, monkeypatch):
    from assets.ingestion.ingest import ingest

    _no_key(monkeypatch)
    key = pseudonym_key(generated)  # the check passes: the root is the generator's
    (generated.raw_dir("payroll", "KHM") / "late.csv").write_text(PAYROLL_HEADER + "\n", encoding="utf-8")
    report = ingest("payroll", "KHM", generated, key, log=lambda m: None)
    late = next(f for f in report.files if f.file.endswith("late.csv"))
    assert late.status == "rejected" and "development key" in late.message
    assert {f.status for f in report.files if f is not late} == {"loaded"}


def test_the_key_comes_from_the_environment(generated, monkeypatch):
    monkeypatch.setenv("DECENTWORK_PSEUDONYM_KEY", GOOD_KEY)
    (generated.raw_dir("payroll", "KHM") / "real.csv").write_text(PAYROLL_HEADER + "\n", encoding="utf-8")
    assert pseudonym_key(generated) == GOOD_KEY.encode()


def test_staged_data_refuses_a_second_key(generated, monkeypatch):
    monkeypatch.setenv("DECENTWORK_PSEUDONYM_KEY", GOOD_KEY)
    record_key(generated, pseudonym_key(generated))
    recorded = (generated.staging / ".pseudonym-key").read_text()
    assert GOOD_KEY not in recorded and recorded.strip() == key_fingerprint(GOOD_KEY.encode())
    monkeypatch.setenv("DECENTWORK_PSEUDONYM_KEY", "z" * 40)
    with pytest.raises(KeyRefused, match=r"another key .* rotate the key"):
        pseudonym_key(generated)
    _no_key(monkeypatch)  # the development key is another key too
    with pytest.raises(KeyRefused, match="another key"):
        pseudonym_key(generated)
    monkeypatch.setenv("DECENTWORK_PSEUDONYM_KEY", GOOD_KEY)
    assert pseudonym_key(generated) == GOOD_KEY.encode()


def test_the_fingerprint_names_the_key_without_revealing_it():
    a, b = key_fingerprint(b"a" * 32), key_fingerprint(b"b" * 32)
    assert a != b and len(a) == 16 and a == key_fingerprint(b"a" * 32)
