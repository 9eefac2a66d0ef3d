{# String functions the engines spell differently: dispatched so models stay engine-neutral.
   Patterns are written without backslash escapes other than \t, \r and \n, which DuckDB hands to RE2
   as escapes and Spark turns into the characters themselves: the same regex either way. #}

{% macro replace_all(expression, pattern, replacement) -%}
    {{ return(adapter.dispatch('replace_all', 'decentwork')(expression, pattern, replacement)) }}
{%- endmacro %}

{% macro default__replace_all(expression, pattern, replacement) -%}
    regexp_replace({{ expression }}, '{{ pattern }}', '{{ replacement }}', 'g')
{%- endmacro %}

{% macro spark__replace_all(expression, pattern, replacement) -%}
    regexp_replace({{ expression }}, '{{ pattern }}', '{{ replacement }}')
{%- endmacro %}

{# Leading and trailing `characters` removed. #}
{% macro trim_chars(expression, characters) -%}
    {{ return(adapter.dispatch('trim_chars', 'decentwork')(expression, characters)) }}
{%- endmacro %}

{% macro default__trim_chars(expression, characters) -%}
    trim({{ expression }}, '{{ characters }}')
{%- endmacro %}

{% macro spark__trim_chars(expression, characters) -%}
    trim(both '{{ characters }}' from {{ expression }})
{%- endmacro %}

{# The distinct non-null values of `expression` in a group, sorted, joined by ', ' (an aggregate). #}
{% macro sorted_list(expression) -%}
    {{ return(adapter.dispatch('sorted_list', 'decentwork')(expression)) }}
{%- endmacro %}

{% macro default__sorted_list(expression) -%}
    string_agg(distinct {{ expression }}, ', ' order by {{ expression }})
{%- endmacro %}

{% macro spark__sorted_list(expression) -%}
    nullif(array_join(array_sort(collect_set({{ expression }})), ', '), '')
{%- endmacro %}
