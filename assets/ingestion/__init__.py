"""Ingestion: delivered extracts to staging and quarantine, one straight path
(assets/ingestion/ingest.py says which)."""
