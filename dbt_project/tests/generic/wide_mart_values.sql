{#
  Every rule of a wide mart's columns in one query (one test, one asset check, per mart, rather than one per column):
  the keys are not null; each value column lies within [min, max] of its unit and indicator (the ranges come from
  dbt_project/seeds/ref_value_ranges.csv through `decentwork catalogue`; an edge may be -inf or inf; nulls pass:
  suppressed and unavailable cells); each `<column>_status` is empty, U, C, M or P. A failing row names its key, the
  column and the rule it breaks.
#}
{% test wide_mart_values(model, keys, ranges) %}
{%- set statuses = ['U', 'C', 'M', 'P'] -%}
{%- for key in keys %}
select '{{ key }} is null' as failure, {{ keys | join(', ') }}
from {{ model }}
where {{ key }} is null
union all
{%- endfor %}
{%- for column, bounds in ranges.items() %}
select '{{ column }} = ' || cast({{ column }} as {{ dbt.type_string() }}) || ' outside [{{ bounds[0] }}, {{ bounds[1] }}]' as failure,
    {{ keys | join(', ') }}
from {{ model }}
where {{ column }} < cast('{{ bounds[0] }}' as double) or {{ column }} > cast('{{ bounds[1] }}' as double)
union all
select '{{ column }}_status = ' || {{ column }}_status || ' is not one of {{ statuses | join(", ") }}' as failure,
    {{ keys | join(', ') }}
from {{ model }}
where {{ column }}_status not in ('{{ statuses | join("', '") }}')
{% if not loop.last %}union all{% endif %}
{%- endfor %}
{% endtest %}
