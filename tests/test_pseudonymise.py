"""Pseudonyms: keyed, stable across spellings of the same id, and linkable only with the key."""

import hashlib
import hmac

import polars as pl
import pytest

from assets.normalise import hmac_hex, normalise_id, pseudonymise
from decentwork import settings
from schemas.canonical import EXTRACTS


def test_hmac_matches_rfc4231_test_case_2():
    # RFC 4231, test case 2: key "Jefe", data "what do ya want for nothing?"
    out = hmac_hex(b"Jefe", pl.Series(["what do ya want for nothing?"]))
    assert out[0] == "5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843"


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
    frame = pl.DataFrame({"factory_id": [1], "national_id": ["ID-9"], "employee_no": ["E1"], "worker_name": ["Nguyen Van A"], "sex": ["F"]})
    out = pseudonymise(frame, EXTRACTS["payroll"], b"k")
    assert {"national_id", "employee_no", "worker_name"}.isdisjoint(out.columns)
    assert out["worker_pid"][0] == hmac.new(b"k", b"ID9", hashlib.sha256).hexdigest()
    assert "ID-9" not in str(out.to_dicts())


def test_production_refuses_to_start_without_a_key(monkeypatch):
    monkeypatch.delenv("DECENTWORK_PSEUDONYM_KEY", raising=False)
    monkeypatch.setenv("DECENTWORK_ENV", "production")
    with pytest.raises(settings.MissingPseudonymKey, match="DECENTWORK_PSEUDONYM_KEY"):
        settings.pseudonym_key()


def test_development_default_warns_loudly(monkeypatch, caplog):
    monkeypatch.delenv("DECENTWORK_PSEUDONYM_KEY", raising=False)
    monkeypatch.delenv("DECENTWORK_ENV", raising=False)
    assert settings.pseudonym_key() == settings.DEV_PSEUDONYM_KEY.encode()
    assert "PUBLIC DEVELOPMENT KEY" in caplog.text


def test_key_comes_from_the_environment(monkeypatch):
    monkeypatch.setenv("DECENTWORK_PSEUDONYM_KEY", "s3cret")
    assert settings.pseudonym_key() == b"s3cret"
