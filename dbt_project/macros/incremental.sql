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

{# The condition on `column` that keeps the countries being refreshed: `column in (...)`, or `1 = 0` for none (an
   empty value); none without the variable (every country). The one reader of DECENTWORK_REFRESH_COUNTRIES; its
   callers read it at run time only, so its value is not part of dbt's parse state. #}
{% macro refreshed_countries_condition(column='country') -%}
    {%- set refreshed = env_var('DECENTWORK_REFRESH_COUNTRIES', '<all>') -%}
    {%- if refreshed == '<all>' -%}
        {%- do return(none) -%}
    {%- endif -%}
    {%- set countries = refreshed.split(',') | reject('equalto', '') | list -%}
    {%- do return(column ~ " in ('" ~ (countries | join("', '")) ~ "')" if countries else '1 = 0') -%}
{%- endmacro %}

{# `where country in (...)` restricting a read to the countries being refreshed (none: an empty value);
   nothing on a full build or without the variable (is_incremental() is false while dbt parses). #}
{% macro refreshed_countries_only(column='country') -%}
    {%- set condition = refreshed_countries_condition(column) if is_incremental() else none -%}
    {%- if condition -%}
        where {{ condition }}
    {%- endif -%}
{%- endmacro %}

{# Before an incremental build: delete the slices of the countries being refreshed (every slice without the
   variable). delete+insert alone deletes only the countries its new rows name, so a refreshed country left with
   no row (its deliveries withdrawn, every row quarantined) kept its old slice, and its cells came from it
   (tests/test_pooled_parts.py). A pre-hook: rendered when the model runs, so the variable is no part of the parse. #}
{% macro delete_refreshed_countries() -%}
    {%- if is_incremental() -%}
        {%- set condition = refreshed_countries_condition() -%}
        delete from {{ this }}{% if condition is not none %} where {{ condition }}{% endif %}
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
    {%- set by_country = refreshed_countries_condition() if tested else none -%}
    {%- if by_country and (
            tested.fqn[1] == 'staging'
            or (tested.config.materialized == 'incremental' and tested.config.unique_key == 'country')) -%}
        {%- set where = '(' ~ where ~ ') and ' ~ by_country if where else by_country -%}
    {%- endif -%}
    {%- if where -%}
        {%- do return('(select * from ' ~ relation ~ ' where ' ~ where ~ ') dbt_subquery') -%}
    {%- else -%}
        {%- do return(relation) -%}
    {%- endif -%}
{%- endmacro %}
