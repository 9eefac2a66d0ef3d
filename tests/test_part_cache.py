"""A load reuses the validated parts of files an earlier load read (assets/ingestion/ingest.py, PartCache): a monthly
delivery reads its new file only. Every change to what a part was made from must make the load read that file again,
and whatever was reused, staging, quarantine and the file report must be those of a load that reads everything."""

import datetime as dt
import hashlib
import hmac
import os
import shutil

import polars as pl
import pytest

import assets.ingestion.ingest as ingest_module
from assets.ingestion.ingest import ingest
from schemas import mapping
from tests.conftest import PAYROLL_HEADER, REGISTER_HEADER, deliver

KEY = b"test-key-of-the-part-cache-tests"
OTHER_KEY = b"another-key-of-the-part-cache-tests"
NOW = dt.datetime(2026, 1, 1, tzinfo=dt.UTC)
REGISTER = REGISTER_HEADER + "\n101,Alpha,KH,Phnom Penh,15/03/2019,Active,5,4,1,Woven\n"
IDS = [f"KH-{n:03d}" for n in range(1, 6)]


def payroll_row(period: str, nid: str, basic: str = "204", sex: str = "F") -> str:
    return (
        f"101,{period},E{nid[-3:]},{nid},Name {nid},{sex},1995-01-02,2020-01-01,sewing_operator,open_ended,monthly,26,"
        f"208,20,{basic},30,19,0,0,4,249,USD,bank"
    )


def month(period: str, basic: str = "204", ids: list[str] = IDS) -> str:
    rows = [payroll_row(period, nid, basic, sex="FM"[i % 2]) for i, nid in enumerate(ids)]
    rows.append(payroll_row(period, "KH-999", basic="-5"))  # quarantined: negative pay
    return PAYROLL_HEADER + "\n" + "\n".join(rows) + "\n"


@pytest.fixture
def delivered(data_root):
    """A register and three monthly payroll files, loaded once (their parts in the cache)."""
    deliver(data_root, "factories", "KHM", "register.csv", REGISTER, mtime=1_700_000_000)
    ingest("factories", "KHM", data_root, KEY, log=lambda m: None, now=NOW)
    for m in (1, 2, 3):
        deliver(data_root, "payroll", "KHM", f"m{m}.csv", month(f"2025-0{m}"), mtime=1_700_000_000 + 100 * m)
    load(data_root)
    return data_root


def load(paths, key=KEY, reuse=True):
    report = ingest("payroll", "KHM", paths, key, log=lambda m: None, now=NOW, threads=2, reuse=reuse)
    return (
        report.frame(),
        pl.read_parquet(paths.staged_file("payroll", "KHM")),
        pl.read_parquet(paths.quarantine_file("payroll", "KHM")),
    )


@pytest.fixture
def reads(monkeypatch):
    """The files (relative to raw/) each load reads."""
    seen: list[str] = []
    real = ingest_module.read_file

    def spy(path, rel, *args, **kwargs):
        seen.append(rel)
        return real(path, rel, *args, **kwargs)

    monkeypatch.setattr(ingest_module, "read_file", spy)
    return seen


def _raw(paths, name):
    return paths.raw_dir("payroll", "KHM") / name


def new_month(paths):
    deliver(paths, "payroll", "KHM", "m4.csv", month("2025-04"), mtime=1_700_000_400)
    return {"m4"}


def month_corrected_under_its_name(paths):
    deliver(paths, "payroll", "KHM", "m2.csv", month("2025-02", basic="250"), mtime=1_700_000_500)
    return {"m2"}


def month_touched(paths):  # same bytes, a new delivery time: the rows' _delivered_at changes
    os.utime(_raw(paths, "m2.csv"), (1_700_000_600, 1_700_000_600))
    return {"m2"}


def correction_in_a_later_file(paths):  # supersedes two workers' January rows
    text = PAYROLL_HEADER + "\n" + "\n".join(payroll_row("2025-01", nid, basic="300") for nid in IDS[:2]) + "\n"
    deliver(paths, "payroll", "KHM", "fix.csv", text, mtime=1_700_000_700)
    return {"fix"}


def file_withdrawn(paths):
    _raw(paths, "m2.csv").unlink()
    return set()


def file_renamed(paths):
    os.rename(_raw(paths, "m3.csv"), _raw(paths, "m3b.csv"))
    return {"m3b"}


def earlier_delivery_arrives_late(paths):  # sorts first: every other file's place in delivery order moves
    deliver(paths, "payroll", "KHM", "m0.csv", month("2025-01", basic="100"), mtime=1_600_000_000)
    return {"m0"}  # the others' parts are copied under their new places; m1 still supersedes m0's January rows


def register_delivered_again(paths):  # a factory's state changed: validation reads the ids only
    deliver(paths, "factories", "KHM", "register.csv", REGISTER.replace("Phnom Penh", "Kandal"), mtime=1_700_000_800)
    ingest("factories", "KHM", paths, KEY, log=lambda m: None, now=NOW)
    return set()


def register_loses_a_factory(paths):  # every row of factory 101 now names a factory outside the register
    other = REGISTER_HEADER + "\n102,Beta,KH,Kandal,01/02/2018,Active,5,4,1,Knit\n"
    deliver(paths, "factories", "KHM", "register.csv", other, mtime=1_700_000_900)
    ingest("factories", "KHM", paths, KEY, log=lambda m: None, now=NOW)
    return {"m1", "m2", "m3"}


def nothing(paths):
    return set()


@pytest.mark.parametrize(
    "change",
    [
        nothing,
        new_month,
        month_corrected_under_its_name,
        month_touched,
        correction_in_a_later_file,
        file_withdrawn,
        file_renamed,
        earlier_delivery_arrives_late,
        register_delivered_again,
        register_loses_a_factory,
    ],
)
def test_a_load_reads_the_changed_files_only_and_stages_what_a_full_read_stages(delivered, reads, change):
    expected_reads = change(delivered)
    reads.clear()
    cached = load(delivered)
    assert {r.removeprefix("payroll/KHM/").removesuffix(".csv") for r in reads} == expected_reads
    cache = delivered.root / ".ingest-cache" / "payroll" / "KHM"
    delivered_files = len(list(delivered.raw_dir("payroll", "KHM").iterdir()))
    assert len(list(cache.glob("*.parquet"))) == delivered_files, "one part per delivered file, old places gone"
    reads.clear()
    fresh = load(delivered, reuse=False)
    assert len(reads) == delivered_files, "reuse=False reads every file"
    for a, b in zip(cached, fresh, strict=True):
        assert a.equals(b), (change.__name__, a, b)


def test_a_layout_change_reads_every_file_again(delivered, reads, monkeypatch, tmp_path):
    folder = tmp_path / "mappings"
    folder.mkdir()
    (folder / "KHM.yaml").write_text(
        "country: KHM\nsources:\n  payroll:\n    values:\n      sex: {Female: F, Male: M}\n", encoding="utf-8"
    )
    monkeypatch.setattr(mapping, "MAPPINGS_DIR", folder)
    reads.clear()
    load(delivered)
    assert len(reads) == 3


def test_a_load_under_another_key_reads_everything_and_keeps_no_part_made_with_the_old_key(delivered, reads):
    """Attack: pseudonyms made with a key the warehouse no longer uses must not survive in the cache (rotating the
    key means re-pseudonymising everything, docs/pseudonyms.md)."""
    cache = delivered.root / ".ingest-cache" / "payroll" / "KHM"
    old_pids = {hmac.new(KEY, nid.replace("-", "").encode(), hashlib.sha256).hexdigest() for nid in IDS}
    held = pl.concat(pl.read_parquet(p, columns=["worker_pid"]) for p in cache.glob("*.parquet"))
    assert old_pids <= set(held["worker_pid"]), "the attack's premise: the cache holds the old key's pseudonyms"
    reads.clear()
    load(delivered, key=OTHER_KEY)
    assert len(reads) == 3
    held = pl.concat(pl.read_parquet(p, columns=["worker_pid"]) for p in cache.glob("*.parquet"))
    assert not old_pids & set(held["worker_pid"])
    assert len(list(cache.glob("*.parquet"))) == 3


def test_a_load_that_fails_half_way_leaves_the_cache_as_it_was(delivered, reads, monkeypatch):
    before = load(delivered)
    new_month(delivered)

    def fail(*args, **kwargs):
        raise RuntimeError("killed while staging")

    monkeypatch.setattr(ingest_module, "stage_and_quarantine", fail)
    with pytest.raises(RuntimeError):
        load(delivered)
    monkeypatch.undo()  # the spy too: count by the index below instead
    cache = delivered.root / ".ingest-cache" / "payroll" / "KHM"
    assert len(list(cache.glob("*.parquet"))) == 4, "the failed load's new part is on disk but not in the index"
    after = load(delivered)
    fresh = load(delivered, reuse=False)
    for a, b in zip(after, fresh, strict=True):
        assert a.equals(b)
    assert after[1].height == before[1].height + len(IDS)
    shutil.rmtree(cache)  # a deleted cache is a cold one: everything is read again
    again = load(delivered)
    assert all(a.equals(b) for a, b in zip(again, fresh, strict=True))
