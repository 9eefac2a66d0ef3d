"""Ingestion assets: one per extract, partitioned by country, writing data/staging/ and data/quarantine/."""

import dagster as dg

from assets.ingest import LoadReport, ingest
from decentwork.settings import SOURCES, paths, pseudonym_key
from pipelines.partitions import country_partitions

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
            "| file | status | read | loaded | quarantined | superseded | note |\n|---|---|---|---|---|---|---|\n"
            + "\n".join(
                f"| {f.file} | {f.status} | {f.rows_read} | {f.rows_loaded} | {f.rows_quarantined} | {f.rows_superseded} | {f.message} |"
                for f in files
            )
        ),
    }

def staging_asset(source: str) -> dg.AssetsDefinition:
    @dg.asset(
        key=["staging", source],
        partitions_def=country_partitions,
        backfill_policy=dg.BackfillPolicy.single_run(),
        deps=[] if source == "factories" else [dg.AssetKey(["staging", "factories"])],
        group_name="ingestion",
        kinds={"polars", "parquet"},
        description=f"Validated `{source}` rows of each country (data/staging/{source}/); rejected rows in data/quarantine/{source}/.",
    )
    def _stage(context: dg.AssetExecutionContext) -> dg.MaterializeResult:
        key = pseudonym_key()
        reports = []
        for country in context.partition_keys:
            report = ingest(source, country, paths(), key, log=context.log.info)
            if report.files:
                context.log.info(
                    f"{source}/{country}: {len(report.files)} file(s), {report.rows_staged} rows staged, "
                    f"{report.rows_quarantined} quarantined, {len(report.rejected)} file(s) rejected"
                )
            for rejected in report.rejected:
                context.log.error(f"REJECTED {rejected.file}: {rejected.message}")
            reports.append(report)
        return dg.MaterializeResult(metadata=_metadata(reports))

    return _stage

staging_assets = [staging_asset(source) for source in SOURCES]
