{#
  A wide topic mart pivoted from the disclosure-controlled `indicators` table, so every published
  mart inherits its suppression: suppressed cells stay empty here too, and each value column has a
  `<column>_status` beside it (the cell's obs_status: empty, U, C or M), so an empty value says why.
  The model's config.meta holds what it publishes (written into models/marts/_published_marts.yml by
  `decentwork catalogue` from seeds/ref_wide_marts.csv and seeds/ref_wide_mart_columns.csv):
  columns: list of [column name, indicator code, classif1]; by_sex: one row per sex as well;
  pooled: true = cross-country mart (all countries and X_BW), false = country mart (no X_BW).
  While dbt parses, a model's yml config is not applied yet (config.meta_* return ''): the macro then
  only records the ref() to `indicators`; it reads the meta when it compiles (execute).
#}
{% macro wide_mart() %}
{%- set columns = config.meta_require('columns') if execute else [] -%}
{%- set by_sex = config.meta_require('by_sex') if execute else true -%}
{%- set pooled = config.meta_require('pooled') if execute else false -%}
with indicators as (select * from {{ ref('indicators') }})

select
    ref_area,
    time,
    {% if by_sex %}sex,{% endif %}
    {% for name, indicator, classif1 in columns %}
    max(case when indicator = '{{ indicator }}' and classif1 = '{{ classif1 }}' then obs_value end) as {{ name }},
    max(case when indicator = '{{ indicator }}' and classif1 = '{{ classif1 }}' then obs_status end) as {{ name }}_status{% if not loop.last %},{% endif %}
    {% endfor %}
from indicators
where indicator in ({% for name, indicator, classif1 in columns %}'{{ indicator }}'{% if not loop.last %}, {% endif %}{% endfor %})
    {% if not by_sex %}and sex = 'SEX_T'{% endif %}
    {% if not pooled %}and ref_area <> 'X_BW'{% endif %}
group by ref_area, time{% if by_sex %}, sex{% endif %}
{% endmacro %}
