{#- `where ...`: the countries and country-years left out of the indicator cells, the pooled X_BW included, because
    their cells failed a quality gate this run (DECENTWORK_EXCLUDED_COUNTRIES, comma-separated: `KHM` for a whole
    country, `KHM:2027` for one of its years; set by the disclosure asset, assets/disclosure/asset.py, when it
    rebuilds the cells without them; they keep their previous publication). `year`: the expression of a row's year
    (none for a table without years, the factory register: only whole countries leave it). Nothing without the
    variable. Read at run time only, so it is no part of dbt's parse state. -#}
{% macro without_excluded_countries(column='country', year='year') -%}
    {%- if execute and env_var('DECENTWORK_EXCLUDED_COUNTRIES', '') -%}
        {%- set countries, years = [], [] -%}
        {%- for entry in env_var('DECENTWORK_EXCLUDED_COUNTRIES').split(',') if entry -%}
            {%- do (years if ':' in entry else countries).append(entry) -%}
        {%- endfor -%}
        where true
        {%- if countries %} and {{ column }} not in ('{{ countries | join("', '") }}'){% endif -%}
        {%- if years and year %}
            and concat({{ column }}, ':', cast({{ year }} as {{ dbt.type_string() }})) not in ('{{ years | join("', '") }}')
        {%- endif -%}
    {%- endif -%}
{%- endmacro %}
