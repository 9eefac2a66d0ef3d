{# Aggregates the engines spell differently; the median is the interpolated 50th percentile everywhere. #}

{% macro median(expression) -%}
    {{ return(adapter.dispatch('median', 'decentwork')(expression)) }}
{%- endmacro %}

{% macro default__median(expression) -%}
    quantile_cont({{ expression }}, 0.5)
{%- endmacro %}

{% macro spark__median(expression) -%}
    percentile({{ expression }}, 0.5)
{%- endmacro %}

{# ILOSTAT sex code of a grouping-sets row: SEX_T where sex was rolled up. #}
{% macro sex_code(column='sex') -%}
    case when grouping({{ column }}) = 1 then 'SEX_T' else 'SEX_' || {{ column }} end
{%- endmacro %}

{# Country of a grouping-sets row: X_BW (all programme countries pooled) where country was rolled up. #}
{% macro ref_area(column='country') -%}
    case when grouping({{ column }}) = 1 then 'X_BW' else {{ column }} end
{%- endmacro %}
