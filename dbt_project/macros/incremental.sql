{#- Country-incremental models. On DuckDB a worker-level model keeps one slice per country: a national
    refresh rebuilds the slices of the countries whose staged rows changed (environment variable
    DECENTWORK_REFRESH_COUNTRIES, comma-separated ISO3 codes, set by the Dagster asset from the staged files,
    assets/dbt_models.py; an environment variable, because changing a `--vars` value makes dbt re-parse the
    whole project) and keeps every other slice as it is. A model configured `by_month` (int_worker_months)
    is sliced by country and month: of a country DECENTWORK_REFRESH_MONTHS lists, only those months are rebuilt
    (refreshed_months_condition). Without the variables, or on a first or `--full-refresh` build, every country is
    rebuilt. Spark builds tables (docs/scale.md: insert_overwrite by a country partition is the registry-scale
    equivalent). -#}

{% macro country_incremental_config(by_month=false) -%}
    {%- if target.type == 'duckdb' -%}
        {{ config(materialized='country_slices', meta={'refresh_by_month': by_month}) }}
    {%- else -%}
        {{ config(materialized='table') }}
    {%- endif -%}
{%- endmacro %}

{# The materialization of the country-incremental models on DuckDB. A national refresh deletes the refreshed
   countries' slices (of a model sliced by month, the refreshed months of a country rebuilt by month:
   refreshed_slices_condition) and inserts their new rows straight from the model's query, in one transaction.
   dbt-duckdb's incremental delete+insert wrote the new rows twice (a temporary table, then the insert: about a fifth
   of a one-country refresh at SF 1, README "Speed at scale"), and deleted only the countries its new rows name, so
   a refreshed country left with no row kept its old slice (tests/test_pooled_parts.py). A first or
   `--full-refresh` build replaces the table, in the same transaction (DuckDB's DDL is transactional). #}
{% materialization country_slices, adapter='duckdb' -%}
    {%- set existing = load_cached_relation(this) -%}
    {%- set target_relation = this.incorporate(type='table') -%}
    {%- set slices_only = is_country_refresh() -%}
    {{ run_hooks(pre_hooks, inside_transaction=False) }}
    {{ run_hooks(pre_hooks, inside_transaction=True) }}
    {%- if slices_only -%}
        {%- set condition = refreshed_slices_condition(model) -%}
        {#- DuckDB estimates a staged extract's scan filtered to some countries at one row, so its optimizer builds
            the joins' hash tables on the country's worker-months: at SF 1 the Cambodian slice of int_worker_months
            spilled past the memory limit and took 13 s instead of 8 (README "Speed at scale", step 6). The query's
            own sides are kept (the references and social-security aggregates as build sides) while it runs. The
            setting is the database's, not the connection's: a model on dbt's other thread may run under it for
            those seconds, and a query that fails leaves it set for the rest of that process. It changes plans,
            never a result. -#}
        {%- call statement('keep_join_sides') -%}set disabled_optimizers = 'build_side_probe_side'{%- endcall -%}
        {%- call statement('main') -%}
            delete from {{ target_relation }}{% if condition is not none %} where {{ condition }}{% endif %};
            insert into {{ target_relation }} by name select * from ({{ sql }})
        {%- endcall -%}
        {%- call statement('restore_join_sides') -%}reset disabled_optimizers{%- endcall -%}
    {%- else -%}
        {#- the drop in the same statement, so in the same transaction: dbt's drop_relation runs outside it -#}
        {%- call statement('main') -%}
            {% if existing is not none %}drop {{ existing.type }} if exists {{ existing }};{% endif %}
            {{ create_table_as(False, target_relation, sql) }}
        {%- endcall -%}
        {%- if existing is not none -%}
            {%- do adapter.cache_dropped(existing) -%}
        {%- endif -%}
    {%- endif -%}
    {{ run_hooks(post_hooks, inside_transaction=True) }}
    {%- do adapter.commit() -%}
    {{ run_hooks(post_hooks, inside_transaction=False) }}
    {{ return({'relations': [target_relation]}) }}
{%- endmaterialization %}

{# True while a country_slices model replaces slices of a table that exists: not while dbt parses, not on a first
   or `--full-refresh` build (dbt's is_incremental() answers for the `incremental` materialization only). #}
{% macro is_country_refresh() -%}
    {%- if not execute or model.config.materialized != 'country_slices' or should_full_refresh() -%}
        {%- do return(false) -%}
    {%- endif -%}
    {%- set relation = adapter.get_relation(this.database, this.schema, this.table) -%}
    {%- do return(relation is not none and relation.type == 'table') -%}
{%- endmacro %}

{# The countries being refreshed: the list DECENTWORK_REFRESH_COUNTRIES names (possibly empty), or none without
   the variable (every country). The one reader of that variable; its callers read it at run time only, so its
   value is not part of dbt's parse state. #}
{% macro refreshed_countries() -%}
    {%- set refreshed = env_var('DECENTWORK_REFRESH_COUNTRIES', '<all>') -%}
    {%- do return(none if refreshed == '<all>' else refreshed.split(',') | reject('equalto', '') | list) -%}
{%- endmacro %}

{# The condition on `column` that keeps the countries being refreshed: `column in (...)`, or `1 = 0` for none (an
   empty value); none without the variable (every country). #}
{% macro refreshed_countries_condition(column='country') -%}
    {%- set countries = refreshed_countries() -%}
    {%- if countries is none -%}
        {%- do return(none) -%}
    {%- endif -%}
    {%- do return(column ~ " in ('" ~ (countries | join("', '")) ~ "')" if countries else '1 = 0') -%}
{%- endmacro %}

{# The same for a relation sliced by country and month (int_worker_months, the staged payroll and social
   security): a refreshed country that DECENTWORK_REFRESH_MONTHS lists (`ISO3=YYYY-MM YYYY-MM,...`, set by
   assets/dbt_models.py when only months of its payroll or social security changed) keeps those months only;
   any other refreshed country, all its months. #}
{% macro refreshed_months_condition(column='country', period_column='period') -%}
    {%- set countries = refreshed_countries() -%}
    {%- if countries is none -%}
        {%- do return(none) -%}
    {%- endif -%}
    {%- set by_month = {} -%}
    {%- for entry in env_var('DECENTWORK_REFRESH_MONTHS', '').split(',') if entry -%}
        {%- set country, months = entry.split('=', 1) -%}
        {%- do by_month.update({country: months.split()}) -%}
    {%- endfor -%}
    {%- set whole = countries | reject('in', by_month) | list -%}
    {%- set parts = [column ~ " in ('" ~ (whole | join("', '")) ~ "')"] if whole else [] -%}
    {%- for country in countries if by_month.get(country) -%}
        {%- do parts.append("(" ~ column ~ " = '" ~ country ~ "' and " ~ period_column ~ " in ('"
            ~ (by_month[country] | join("', '")) ~ "'))") -%}
    {%- endfor -%}
    {%- do return('(' ~ (parts | join(' or ')) ~ ')' if parts else '1 = 0') -%}
{%- endmacro %}

{# The refresh condition of a node: by month if it is configured so (meta refresh_by_month), else by country. #}
{% macro refreshed_slices_condition(node) -%}
    {%- if node.config.meta.get('refresh_by_month') -%}
        {%- do return(refreshed_months_condition()) -%}
    {%- endif -%}
    {%- do return(refreshed_countries_condition()) -%}
{%- endmacro %}

{# `where country in (...)` restricting a read to the countries being refreshed (none: an empty value);
   nothing on a full build or without the variable. #}
{% macro refreshed_countries_only(column='country') -%}
    {%- set condition = refreshed_countries_condition(column) if is_country_refresh() else none -%}
    {%- if condition -%}
        where {{ condition }}
    {%- endif -%}
{%- endmacro %}

{# `where ...` restricting a read of a relation sliced by country and month to the slices being refreshed
   (refreshed_months_condition); nothing on a full build or without the variable. #}
{% macro refreshed_months_only(column='country', period_column='period') -%}
    {%- set condition = refreshed_months_condition(column, period_column) if is_country_refresh() else none -%}
    {%- if condition -%}
        where {{ condition }}
    {%- endif -%}
{%- endmacro %}

{# The data tests of a national refresh read only the refreshed countries' rows of the relations sliced by country:
   the staged extracts (stg_*) and the country-incremental models; of those sliced by month as well (meta
   refresh_by_month: int_worker_months, the staged payroll and returns), only the refreshed months of a country
   rebuilt by month, its other months' staged rows being unchanged by their digests (assets/dbt_models.py). The
   rows left out are those the last successful build tested: a build is recorded only when every test passed
   (assets/dbt_models.py; a failed test leaves no record and the next build is a full one, testing every country),
   and a country or month is left out only while its staged rows are unchanged since that build. Every unique key
   of these relations names the country (and, of those sliced by month, the month), so a duplicate cannot span a
   refreshed and a kept slice. A test's own `where` config still applies. Nothing is narrowed on a full build (no
   variable) or on other relations (dbt's default). Overrides dbt's macro of the same name, as dbt documents for
   custom `where` handling. #}
{% macro get_where_subquery(relation) -%}
    {%- set where = config.get('where', '') -%}
    {%- set tested = graph.nodes.get(model.attached_node) if execute and model.attached_node else none -%}
    {%- set sliced = tested and (tested.fqn[1] == 'staging' or tested.config.materialized == 'country_slices') -%}
    {%- set by_slice = refreshed_slices_condition(tested) if sliced else none -%}
    {%- if by_slice -%}
        {%- set where = '(' ~ where ~ ') and ' ~ by_slice if where else by_slice -%}
    {%- endif -%}
    {%- if where -%}
        {%- do return('(select * from ' ~ relation ~ ' where ' ~ where ~ ') dbt_subquery') -%}
    {%- else -%}
        {%- do return(relation) -%}
    {%- endif -%}
{%- endmacro %}
