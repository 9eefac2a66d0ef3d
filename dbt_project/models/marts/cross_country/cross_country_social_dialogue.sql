{# columns and flags: config.meta in _published_marts.yml, from seeds/ref_wide_marts.csv, ref_wide_mart_columns.csv #}
{{ wide_mart() }}
