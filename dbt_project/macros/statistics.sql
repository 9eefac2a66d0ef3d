{#- A CTE read more than once that only derives columns from a table: DuckDB would otherwise hold it
    whole (it materializes such CTEs); re-reading the table's columns costs less. Spark inlines CTEs. -#}
{% macro inline_cte() -%}
    {{ return(adapter.dispatch('inline_cte', 'decentwork')()) }}
{%- endmacro %}

{% macro default__inline_cte() -%}
{%- endmacro %}

{% macro duckdb__inline_cte() -%}
    not materialized
{%- endmacro %}

{# ILOSTAT sex code of a grouping-sets row: SEX_T where sex was rolled up. #}
{% macro sex_code(column='sex') -%}
    case when grouping({{ column }}) = 1 then 'SEX_T' else 'SEX_' || {{ column }} end
{%- endmacro %}

{# Country of a grouping-sets row: X_BW (all programme countries pooled) where country was rolled up. With `pool`
   (payroll-based cells, int_coverage), the rolled-up rows are grouped by that column instead: 'X_BW' for the
   country-years that pool, null for the others, whose group `pooled_groups_only()` drops. #}
{% macro ref_area(column='country', pool=none) -%}
    case when grouping({{ column }}) = 1 then {{ pool if pool else "'X_BW'" }} else {{ column }} end
{%- endmacro %}

{# Wraps a grouping-sets query with `pool` (`select * from (...) as grouped {{ pooled_groups_only() }}`): drops the
   rolled-up group of the country-years that do not pool (its ref_area is null). A filter outside the query: Spark's
   HAVING sees only the select list. #}
{% macro pooled_groups_only(column='country') -%}
    where {{ column }} is not null
{%- endmacro %}
