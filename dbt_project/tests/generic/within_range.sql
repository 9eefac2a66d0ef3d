{#
  Fails on every row whose column lies outside [min_value, max_value] (nulls pass: suppressed cells). The edges
  come from dbt_project/seeds/ref_value_ranges.csv through `decentwork catalogue`; an edge may be -inf or inf.
#}
{% test within_range(model, column_name, min_value, max_value) %}
select * from {{ model }}
where {{ column_name }} < cast('{{ min_value }}' as double) or {{ column_name }} > cast('{{ max_value }}' as double)
{% endtest %}
