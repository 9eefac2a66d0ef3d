{# Date arithmetic the engines spell differently: dispatched so models stay engine-neutral. #}

{% macro completed_years(start_date, end_date) -%}
    {{ return(adapter.dispatch('completed_years', 'decentwork')(start_date, end_date)) }}
{%- endmacro %}

{% macro default__completed_years(start_date, end_date) -%}
    date_sub('year', {{ start_date }}, {{ end_date }})
{%- endmacro %}

{% macro month_end(month_start) -%}
    {{ return(adapter.dispatch('month_end', 'decentwork')(month_start)) }}
{%- endmacro %}

{% macro default__month_end(month_start) -%}
    cast({{ month_start }} + interval 1 month - interval 1 day as date)
{%- endmacro %}

{% macro year_end(year) -%}
    {{ return(adapter.dispatch('year_end', 'decentwork')(year)) }}
{%- endmacro %}

{% macro default__year_end(year) -%}
    make_date(cast({{ year }} as integer), 12, 31)
{%- endmacro %}
