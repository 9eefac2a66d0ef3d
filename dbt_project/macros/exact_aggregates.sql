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

{#- Means rolled up from pre-aggregated parts: a finer model keeps `<prefix>_sum` (the exact DECIMAL sum)
    and `<prefix>_n` (the count of non-null values), and any coarser mean is sum of sums / sum of counts: the
    exact sum as a double over the count, whatever order the parts come in. `exact_avg` on the rows themselves
    divides the same exact sum in extended precision, so the two can differ in the last binary digit (never in
    a published digit: values are rounded to their published precision, assets/disclosure/). `condition`
    restricts the parts. -#}

{% macro decimal_sum(expression) -%}
    sum(cast({{ expression }} as decimal(38, 10)))
{%- endmacro %}

{% macro mean_of_parts(prefix, condition=none) -%}
    {%- if condition is none -%}
    (cast(sum({{ prefix }}_sum) as double) / nullif(sum({{ prefix }}_n), 0))
    {%- else -%}
    (cast(sum(case when {{ condition }} then {{ prefix }}_sum end) as double) / nullif(sum(case when {{ condition }} then {{ prefix }}_n end), 0))
    {%- endif -%}
{%- endmacro %}

{#- A value rounded to `decimals` places in DECIMAL, returned as a double: rounding a double directly can go either
    way at a half (0.15 is 0.1499... in binary) and the engines differ there; in DECIMAL both round half away from
    zero, so every engine publishes the same digits. -#}

{% macro exact_round(expression, decimals) -%}
    cast(round(cast({{ expression }} as decimal(38, 10)), {{ decimals }}) as double)
{%- endmacro %}
