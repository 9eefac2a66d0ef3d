{#
  Fails on every row whose value lies outside the range of its unit and indicator in the seed ref_value_ranges:
  the row of its unit with the longest indicator_prefix the code starts with (an empty prefix: every code); an
  empty edge is unbounded; null values pass (suppressed cells). A row whose unit has no range fails too.
#}
{% test within_unit_range(model, column_name, unit_column='unit', indicator_column='indicator') %}
with pairs as (
    select distinct {{ indicator_column }} as indicator, {{ unit_column }} as unit from {{ model }}
),

matched as (
    select
        p.indicator, p.unit, r.min_value, r.max_value, r.unit is not null as ranged,
        row_number() over (
            partition by p.indicator, p.unit order by length(coalesce(r.indicator_prefix, '')) desc
        ) as specificity
    from pairs as p
    left join {{ ref('ref_value_ranges') }} as r
        on r.unit = p.unit
        and substr(p.indicator, 1, length(coalesce(r.indicator_prefix, ''))) = coalesce(r.indicator_prefix, '')
)

select m.*, x.min_value, x.max_value
from {{ model }} as m
inner join matched as x
    on x.indicator = m.{{ indicator_column }} and x.unit = m.{{ unit_column }} and x.specificity = 1
where not x.ranged
    or m.{{ column_name }} < coalesce(x.min_value, cast('-inf' as double))
    or m.{{ column_name }} > coalesce(x.max_value, cast('inf' as double))
{% endtest %}
