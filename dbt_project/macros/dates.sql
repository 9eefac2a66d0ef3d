{# Date arithmetic written once in SQL both DuckDB and Spark read (no engine-specific function). #}

{# Completed years from start_date to end_date (the birthday rule); 0 when end_date comes first
   (a pay month before the factory's enrolment date counts as its first year). #}
{% macro completed_years(start_date, end_date) -%}
    greatest(0, year({{ end_date }}) - year({{ start_date }})
        - case when month({{ end_date }}) < month({{ start_date }})
                    or (month({{ end_date }}) = month({{ start_date }}) and day({{ end_date }}) < day({{ start_date }}))
               then 1 else 0 end)
{%- endmacro %}

{% macro month_end(month_start) -%}
    last_day({{ month_start }})
{%- endmacro %}

{% macro year_end(year) -%}
    make_date(cast({{ year }} as integer), 12, 31)
{%- endmacro %}
