"""The Dagster assets of ingestion (`staging/<source>`): one per extract, partitioned by country, each running
`ingest` (assets/ingestion/ingest.py) to write data/staging/ and data/quarantine/.

Each asset also reports two asset checks on the partitions it loaded (Dagster checks are per asset,
not per partition, so the countries are named in the metadata):
- `quarantine_share`: the share of rows pandera and the key rules sent to quarantine stays within
  DECENTWORK_MAX_QUARANTINE_SHARE (default 5%), with the count per broken rule;
- `no_rejected_files`: every delivered file could be read.
Both warn and never block: bad rows are the partner's to fix, and the good rows still load.

A country is read again only when something it is made of changed (`ingest.unchanged_since_staged`: its files, the
key, its factory register, the ingestion code), and then only its files not validated before (`ingest.PartCache`); a
run tagged `decentwork/reingest=all` (`decentwork run --reingest`) reads every file. A paused country
(`decentwork pause`) keeps its staged rows whatever was delivered.
"""

import os
from concurrent.futures import ThreadPoolExecutor

import dagster as dg
import polars as pl

from assets.deliveries import paused_countries
from assets.ingestion.ingest import ingest, unchanged_since_staged
from assets.ingestion.pseudonyms import pseudonym_key, record_key
from assets.ingestion.reasons import partner_reason
from assets.ingestion.stage import LoadReport
from assets.partitions import country_partitions
from decentwork.settings import REINGEST_TAG, SOURCES, ingest_threads, paths


def _metadata(reports: list[LoadReport]) -> dict:
    files = [f for r in reports for f in r.files]
    return {
        "countries": dg.MetadataValue.text(", ".join(r.country for r in reports)),
        "files": len(files),
        "rows_read": sum(f.rows_read for f in files),
        "rows_staged": sum(r.rows_staged for r in reports),
        "rows_quarantined": sum(r.rows_quarantined for r in reports),
        "files_rejected": len([f for f in files if f.status == "rejected"]),
        "per_file": dg.MetadataValue.md(
            "| file | layout | status | read | loaded | quarantined | "
            "superseded | note |\n|---|---|---|---|---|---|---|---|\n"
            + "\n".join(
                f"| {f.file} | {f.layout} | {f.status} | {f.rows_read} | {f.rows_loaded} "
                f"| {f.rows_quarantined} | {f.rows_superseded} | {f.message} |"
                for f in files
            )
        ),
    }


DEFAULT_MAX_QUARANTINE_SHARE = 0.05


def _rule_counts(reports: list[LoadReport]) -> dict[str, int]:
    """Quarantined rows per broken rule, with the cell values masked (a reason may quote a value): run metadata."""
    counts: dict[str, int] = {}
    for report in reports:
        file = paths().quarantine_file(report.source, report.country)
        if not file.exists():
            continue
        reasons = pl.read_parquet(file, columns=["reason"])["reason"].str.split("; ").explode()
        for reason, n in reasons.value_counts().iter_rows():
            rule = partner_reason(reason, report.source)[1] if reason else "unknown"
            counts[rule] = counts.get(rule, 0) + n
    return dict(sorted(counts.items(), key=lambda kv: -kv[1]))


def _check_results(reports: list[LoadReport]) -> list[dg.AssetCheckResult]:
    limit = float(os.environ.get("DECENTWORK_MAX_QUARANTINE_SHARE", DEFAULT_MAX_QUARANTINE_SHARE))
    read = sum(r.rows_staged + r.rows_quarantined for r in reports)
    quarantined = sum(r.rows_quarantined for r in reports)
    share = quarantined / read if read else 0.0
    rejected = [f"{r.country}: {f.file}: {f.message}" for r in reports for f in r.rejected]
    countries = ", ".join(r.country for r in reports)
    return [
        dg.AssetCheckResult(
            check_name="quarantine_share",
            passed=share <= limit,
            severity=dg.AssetCheckSeverity.WARN,
            metadata={
                "countries": countries,
                "rows_quarantined": quarantined,
                "share": round(share, 6),
                "limit": limit,
                "rows_per_rule": dg.MetadataValue.json(_rule_counts(reports)),
            },
        ),
        dg.AssetCheckResult(
            check_name="no_rejected_files",
            passed=not rejected,
            severity=dg.AssetCheckSeverity.WARN,
            metadata={
                "countries": countries,
                "rejected": dg.MetadataValue.md("\n".join(f"- {r}" for r in rejected) or "none"),
            },
        ),
    ]


def ingestion_asset(source: str) -> dg.AssetsDefinition:
    key = dg.AssetKey(["staging", source])

    @dg.asset(
        key=key,
        check_specs=[
            dg.AssetCheckSpec(
                "quarantine_share",
                asset=key,
                description="Share of rows quarantined by pandera and the key rules, per rule.",
            ),
            dg.AssetCheckSpec("no_rejected_files", asset=key, description="Every delivered file could be read."),
        ],
        partitions_def=country_partitions,
        backfill_policy=dg.BackfillPolicy.single_run(),
        deps=[] if source == "factories" else [dg.AssetKey(["staging", "factories"])],
        group_name="ingestion",
        kinds={"polars", "parquet"},
        description=(
            f"Validated `{source}` rows of each country (data/staging/{source}/); "
            f"rejected rows in data/quarantine/{source}/."
        ),
    )
    def _stage(context: dg.AssetExecutionContext) -> dg.MaterializeResult:
        p, secret, threads = paths(), pseudonym_key(paths()), ingest_threads()
        record_key(p, secret)
        paused = paused_countries(p)
        reingest = context.run.tags.get(REINGEST_TAG) == "all"
        countries, kept = [], []
        for country in context.partition_keys:
            if country in paused:
                context.log.warning(
                    f"{source}/{country}: paused since {paused[country]['since']} ({paused[country]['reason']}): "
                    f"new deliveries not read, its staged rows kept (`decentwork resume {country}`)"
                )
                kept.append(country)
            elif not reingest and unchanged_since_staged(source, country, p, secret):
                kept.append(country)
            else:
                countries.append(country)
        if kept:
            context.log.info(f"{source}: {', '.join(kept)} kept as staged (deliveries unchanged or paused)")
        per_country = max(1, threads // max(1, len(countries)))  # one country alone validates `threads` files at once
        with ThreadPoolExecutor(max_workers=max(1, min(threads, len(countries)))) as pool:  # countries are independent
            reports = list(
                pool.map(
                    lambda country: ingest(
                        source, country, p, secret, log=context.log.info, threads=per_country, reuse=not reingest
                    ),
                    countries,
                )
            )
        for report in reports:
            if report.files:
                context.log.info(
                    f"{source}/{report.country}: {len(report.files)} file(s), {report.rows_staged} rows staged, "
                    f"{report.rows_quarantined} quarantined, {len(report.rejected)} file(s) rejected"
                )
            for rejected in report.rejected:
                context.log.error(f"REJECTED {rejected.file}: {rejected.message}")
        metadata = _metadata(reports) | {"countries_kept_as_staged": dg.MetadataValue.text(", ".join(kept) or "none")}
        return dg.MaterializeResult(metadata=metadata, check_results=_check_results(reports))

    return _stage


ingestion_assets = [ingestion_asset(source) for source in SOURCES]
