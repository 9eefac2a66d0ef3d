"""The constituents' portal: a static site built from the published marts only (issue 30).

Its only inputs are the files of a publication (`indicators.parquet`, `codes.parquet`, the wide country marts,
`factory_compliance.parquet`): it imports nothing of ingestion, disclosure control or the warehouse, so anyone can
rebuild it from a downloaded publication (`decentwork site`), and disclosure control holds by construction.
"""
