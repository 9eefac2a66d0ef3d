{#- Country-incremental models. On DuckDB a worker-level model keeps one slice per country: a national
    refresh rebuilds the slices of the countries whose staged rows changed (var `refresh_countries`, set by
    the Dagster asset from the staged files, assets/transform.py) and keeps every other slice as it is.
    Without the var, or on a first or `--full-refresh` build, every country is rebuilt. Spark builds
    tables (docs/scale.md: insert_overwrite by a country partition is the registry-scale equivalent). -#}

{% macro country_incremental_config() -%}
    {%- if target.type == 'duckdb' -%}
        {{ config(materialized='incremental', incremental_strategy='delete+insert', unique_key='country') }}
    {%- else -%}
        {{ config(materialized='table') }}
    {%- endif -%}
{%- endmacro %}

{# `where country in (...)` restricting a read to the countries being refreshed (none: an empty list);
   nothing on a full build or without the var. #}
{% macro refreshed_countries_only(column='country') -%}
    {%- set countries = var('refresh_countries', none) -%}
    {%- if countries is not none and is_incremental() -%}
        {%- if countries -%}
        where {{ column }} in ('{{ countries | join("', '") }}')
        {%- else -%}
        where 1 = 0
        {%- endif -%}
    {%- endif -%}
{%- endmacro %}
