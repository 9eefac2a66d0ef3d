{#- Country-incremental models. On DuckDB a worker-level model keeps one slice per country: a national
    refresh rebuilds the slices of the countries whose staged rows changed (environment variable
    DECENTWORK_REFRESH_COUNTRIES, comma-separated ISO3 codes, set by the Dagster asset from the staged files,
    assets/dbt_models.py; an environment variable, because changing a `--vars` value makes dbt re-parse the
    whole project) and keeps every other slice as it is. Without the variable, or on a first or
    `--full-refresh` build, every country is rebuilt. Spark builds
    tables (docs/scale.md: insert_overwrite by a country partition is the registry-scale equivalent). -#}

{% macro country_incremental_config() -%}
    {%- if target.type == 'duckdb' -%}
        {{ config(
            materialized='incremental', incremental_strategy='delete+insert', unique_key='country',
            pre_hook="{{ delete_refreshed_countries() }}"
        ) }}
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

{# Before an incremental build: delete the slices of the countries being refreshed (every slice without the
   variable). delete+insert alone deletes only the countries its new rows name, so a refreshed country left with
   no row (its deliveries withdrawn, every row quarantined) kept its old slice, and its cells came from it
   (tests/test_pooled_parts.py). A pre-hook: rendered when the model runs, so the variable is no part of the parse. #}
{% macro delete_refreshed_countries() -%}
    {%- if is_incremental() -%}
        {%- if env_var('DECENTWORK_REFRESH_COUNTRIES', '<all>') == '<all>' -%}
        delete from {{ this }}
        {%- else -%}
            {%- set countries = env_var('DECENTWORK_REFRESH_COUNTRIES').split(',') | reject('equalto', '') | list -%}
            {%- if countries -%}
        delete from {{ this }} where country in ('{{ countries | join("', '") }}')
            {%- endif -%}
        {%- endif -%}
    {%- endif -%}
{%- endmacro %}

{# The data tests of a national refresh read only the refreshed countries' rows of the relations sliced by country:
   the staged extracts (stg_*) and the country-incremental models. The other countries' rows are those the last
   successful build tested: a build is recorded only when every test passed (assets/dbt_models.py; a failed
   test leaves no record and the next build is a full one, testing every country), and a country is left out only
   while its staged files are unchanged since that build. Every unique key of these relations names the country, so
   a duplicate cannot span a refreshed and a kept country. A test's own `where` config still applies. Nothing is
   narrowed on a full build (no variable) or on other relations (dbt's default). Overrides dbt's macro of the same
   name, as dbt documents for custom `where` handling. #}
{% macro get_where_subquery(relation) -%}
    {%- set where = config.get('where', '') -%}
    {%- set tested = graph.nodes.get(model.attached_node) if execute and model.attached_node else none -%}
    {%- set refreshed = env_var('DECENTWORK_REFRESH_COUNTRIES', '<all>') if execute else '<all>' -%}
    {%- if tested and refreshed != '<all>' and (
            tested.fqn[1] == 'staging'
            or (tested.config.materialized == 'incremental' and tested.config.unique_key == 'country')) -%}
        {%- set countries = refreshed.split(',') | reject('equalto', '') | list -%}
        {%- set by_country = "country in ('" ~ (countries | join("', '")) ~ "')" if countries else '1 = 0' -%}
        {%- set where = '(' ~ where ~ ') and ' ~ by_country if where else by_country -%}
    {%- endif -%}
    {%- if where -%}
        {%- do return('(select * from ' ~ relation ~ ' where ' ~ where ~ ') dbt_subquery') -%}
    {%- else -%}
        {%- do return(relation) -%}
    {%- endif -%}
{%- endmacro %}
