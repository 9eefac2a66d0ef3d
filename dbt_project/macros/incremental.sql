{#- Country-incremental models. On DuckDB a worker-level model keeps one slice per country: a national
    refresh rebuilds the slices of the countries whose staged rows changed (environment variable
    DECENTWORK_REFRESH_COUNTRIES, comma-separated ISO3 codes, set by the Dagster asset from the staged files,
    assets/dbt_models.py; an environment variable, because changing a `--vars` value makes dbt re-parse the
    whole project) and keeps every other slice as it is. Without the variable, or on a first or
    `--full-refresh` build, every country is rebuilt. Spark builds
    tables (docs/scale.md: insert_overwrite by a country partition is the registry-scale equivalent). -#}

{% macro country_incremental_config() -%}
    {%- if target.type == 'duckdb' -%}
        {{ config(materialized='incremental', incremental_strategy='delete+insert', unique_key='country') }}
    {%- else -%}
        {{ config(materialized='table') }}
    {%- endif -%}
{%- endmacro %}

{# `where country in (...)` restricting a read to the countries being refreshed (none: an empty value);
   nothing on a full build or without the variable. Read at run time only (is_incremental() is false while
   dbt parses), so its value is not part of dbt's parse state. #}
{% macro refreshed_countries_only(column='country') -%}
    {%- if is_incremental() and env_var('DECENTWORK_REFRESH_COUNTRIES', '<all>') != '<all>' -%}
        {%- set countries = env_var('DECENTWORK_REFRESH_COUNTRIES').split(',') | reject('equalto', '') | list -%}
        {%- if countries -%}
        where {{ column }} in ('{{ countries | join("', '") }}')
        {%- else -%}
        where 1 = 0
        {%- endif -%}
    {%- endif -%}
{%- endmacro %}
