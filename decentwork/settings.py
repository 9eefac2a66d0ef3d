"""Where things live and which secrets apply: the one place that reads the environment.

Every path of the warehouse hangs off the data root, `data/` in the repository by default,
relocatable with DECENTWORK_DATA_DIR so the same code runs on any folder of extracts.
"""

from __future__ import annotations

import logging
import os
from dataclasses import dataclass
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parent.parent
DBT_PROJECT_DIR = REPO_ROOT / "dbt_project"
SEEDS_DIR = DBT_PROJECT_DIR / "seeds"
MAPPINGS_DIR = REPO_ROOT / "schemas" / "mappings"

SOURCES = ("factories", "assessments", "picc_members", "payroll", "social_security", "worker_survey")
RAW_SUFFIXES = (".csv", ".xlsx", ".parquet")

DEV_PSEUDONYM_KEY = "decentwork-development-key-for-generated-samples-only"

log = logging.getLogger("decentwork")


@dataclass(frozen=True)
class Paths:
    """The data root and its fixed layout (see spec/architecture.md)."""

    root: Path

    @property
    def raw(self) -> Path:
        return self.root / "raw"

    @property
    def staging(self) -> Path:
        return self.root / "staging"

    @property
    def quarantine(self) -> Path:
        return self.root / "quarantine"

    @property
    def ingest_cache(self) -> Path:
        """The validated part of every loaded file, per source and country (assets/ingestion/ingest.py PartCache)."""
        return self.root / ".ingest-cache"

    @property
    def marts(self) -> Path:
        return self.root / "marts"

    @property
    def warehouse(self) -> Path:
        return self.root / "warehouse.duckdb"

    @property
    def spark_warehouse(self) -> Path:
        """Where the Spark target (dbt_project/profiles.yml) keeps its tables, one folder of Parquet each."""
        return self.root / "spark" / "warehouse"

    @property
    def build_state(self) -> Path:
        """What the warehouse's tables were last built from (assets/dbt_models.py); written after a successful
        dbt build."""
        return self.root / "warehouse.build-state.json"

    @property
    def dbt_artifacts(self) -> Path:
        """The refreshes' dbt artifacts and logs (manifest, run results, partial-parse state): one folder per
        data root, so dbt's partial parsing stays valid from run to run (its state names the warehouse path)."""
        return self.root / "dbt"

    @property
    def disclosure(self) -> Path:
        """The indicator cells after disclosure control (assets/disclosure/), which dbt's marts read, and its report."""
        return self.root / "disclosure"

    @property
    def controlled_cells(self) -> Path:
        return self.disclosure / "controlled_cells.parquet"

    @property
    def disclosure_report(self) -> Path:
        return self.disclosure / "report.json"

    @property
    def dagster_storage(self) -> Path:
        return self.root / "dagster"

    def raw_dir(self, source: str, country: str) -> Path:
        return self.raw / source / country

    # The one place that spells the `<source>/country=<ISO3>/` layout of staging/ and quarantine/ (hive
    # partitioning: dbt's sources and DuckDB read the country from the folder name).
    def staged_file(self, source: str, country: str) -> Path:
        return self.staging / source / f"country={country}" / "part-0.parquet"

    def staged_files(self, source: str = "*", country: str = "*") -> list[Path]:
        """The staged Parquet files, of one source or country or all (`*`), sorted."""
        return sorted(self.staging.glob(f"{source}/country={country}/*.parquet"))

    def file_reports(self, country: str = "*") -> list[Path]:
        """The per-file reports of the last loads (`file_report`) of every source, of one country or all."""
        return sorted(self.quarantine.glob(f"*/country={country}/files.parquet"))

    @staticmethod
    def partition_of(path: Path) -> tuple[str, str]:
        """(source, country) of a file under staging/ or quarantine/."""
        return path.parent.parent.name, path.parent.name.removeprefix("country=")

    def quarantine_file(self, source: str, country: str) -> Path:
        return self.quarantine / source / f"country={country}" / "quarantine.parquet"

    def file_report(self, source: str, country: str) -> Path:
        """Per-file outcome of the last load (read, loaded, quarantined, rejected)."""
        return self.quarantine / source / f"country={country}" / "files.parquet"

    def file_report_csv(self, source: str, country: str) -> Path:
        """`file_report` as CSV, for partners and national teams (assets/ingestion/stage.py)."""
        return self.quarantine / source / f"country={country}" / "files.csv"

    def quarantine_reasons_csv(self, source: str, country: str) -> Path:
        """One line per quarantined row: file, row, reason with cell values masked; no personal value."""
        return self.quarantine / source / f"country={country}" / "quarantine_reasons.csv"

    def quarantine_summary_csv(self, source: str, country: str) -> Path:
        """Per file and broken rule: how many rows, and the first of them; no personal value."""
        return self.quarantine / source / f"country={country}" / "quarantine_summary.csv"

    @property
    def publication_record(self) -> Path:
        """What the current publication was made from (assets/publication_record.py)."""
        return self.root / "published-from.json"

    @property
    def paused(self) -> Path:
        """The countries whose deliveries are held (`decentwork pause`): assets/deliveries.py."""
        return self.root / "paused.json"

    def ingestion_record(self, source: str, country: str) -> Path:
        """What the last complete load of one source and country read (assets/ingestion/ingest.py:
        `unchanged_since_staged`)."""
        return self.quarantine / source / f"country={country}" / "ingested.json"


# Dagster run tag naming the `decentwork run` (host/pid/start time) that executes a run in its own process:
# pipelines/runs.py marks failed the runs whose process is gone
PROCESS_TAG = "decentwork/process"
# Dagster run tag: "all" makes the run read every delivery again, even one unchanged since it was staged
REINGEST_TAG = "decentwork/reingest"
# Dagster run tag: {ISO3: fingerprint} of the deliveries when the refresh was requested (what its publication read)
DELIVERIES_TAG = "decentwork/deliveries"
# Dagster run tag: the code, dbt target and key (by fingerprint) the run started with (assets/publication_record.py)
MADE_WITH_TAG = "decentwork/made_with"
DBT_TARGET_ENV = "DECENTWORK_DBT_TARGET"


def dbt_target() -> str:
    """The dbt target the warehouse is built on: `duckdb` (default) or `spark` (docs/scale.md)."""
    return os.environ.get(DBT_TARGET_ENV, "duckdb")


def ingest_threads() -> int:
    """How many countries of one extract, or files of one country, are ingested at once, from
    DECENTWORK_INGEST_THREADS (default 2).

    Threads, not processes: polars does the work outside the GIL. On 2 cores, two countries of SF 1 payroll
    (KHM, IDN) loaded in 54 s instead of 69 s with the same peak memory, since each thread holds one file.
    """
    value = os.environ.get("DECENTWORK_INGEST_THREADS", "2")
    if not value.isdigit() or int(value) < 1:
        raise ValueError(f"DECENTWORK_INGEST_THREADS={value!r}: give a whole number of threads, 1 or more")
    return int(value)


def data_docs() -> bool:
    """Whether a publication renders Great Expectations' Data Docs (marts/quality/index.html): DECENTWORK_DATA_DOCS,
    on by default; the test suite turns it off where no test reads the pages."""
    value = os.environ.get("DECENTWORK_DATA_DOCS", "on").strip().lower()
    if value not in {"on", "off"}:
        raise ValueError(f"DECENTWORK_DATA_DOCS={value!r}: use on (the default) or off")
    return value == "on"


def data_root() -> Path:
    return Path(os.environ.get("DECENTWORK_DATA_DIR", REPO_ROOT / "data")).expanduser().resolve()


def paths() -> Paths:
    return Paths(data_root())


def export_environment() -> Paths:
    """Make the resolved locations visible to child processes (dbt, Dagster) and return them.

    dbt's profile and sources read DECENTWORK_DATA_DIR; Dagster reads DAGSTER_HOME, whose
    dagster.yaml keeps the instance's storage under the data root.
    """
    p = paths()
    os.environ["DECENTWORK_DATA_DIR"] = str(p.root)
    os.environ.setdefault("DAGSTER_HOME", str(REPO_ROOT))
    os.environ["DECENTWORK_DAGSTER_STORAGE"] = str(p.dagster_storage)  # the instance belongs to its data root
    p.dagster_storage.mkdir(parents=True, exist_ok=True)
    return p


def pseudonym_key_setting() -> str:
    """DECENTWORK_PSEUDONYM_KEY as set ('' when unset); assets/ingestion/pseudonyms.py decides whether it may be
    used."""
    return os.environ.get("DECENTWORK_PSEUDONYM_KEY", "")


def environment_name() -> str:
    """DECENTWORK_ENV: `production` or `development` (default)."""
    return os.environ.get("DECENTWORK_ENV", "development").strip().lower()
