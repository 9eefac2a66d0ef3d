{#- Order-independent sums and means of non-integer values.
    Parallel threads add doubles in whatever order they finish, so a double sum can differ in its
    last bits between two runs over the same rows: the publication would not be byte-identical run
    to run. Adding in DECIMAL(38, 10) is exact, so every run (and every engine) gives the same bits.
    Values carry at most 28 integer digits; amounts here stay below 1e15. -#}

{% macro exact_sum(expression) -%}
    cast(sum(cast({{ expression }} as decimal(38, 10))) as double)
{%- endmacro %}

{% macro exact_avg(expression) -%}
    cast(avg(cast({{ expression }} as decimal(38, 10))) as double)
{%- endmacro %}
