{#- `where country not in (...)`: the countries left out of the indicator cells, the pooled X_BW included, because
    their cells failed a quality gate this run (DECENTWORK_EXCLUDED_COUNTRIES, comma-separated ISO3 codes, set by the
    disclosure asset, assets/disclosure/asset.py, when it rebuilds the cells without them; they keep their previous
    publication). Nothing without the variable. Read at run time only, so it is no part of dbt's parse state. -#}
{% macro without_excluded_countries(column='country') -%}
    {%- if execute and env_var('DECENTWORK_EXCLUDED_COUNTRIES', '') -%}
        {%- set countries = env_var('DECENTWORK_EXCLUDED_COUNTRIES').split(',') | reject('equalto', '') | list -%}
        where {{ column }} not in ('{{ countries | join("', '") }}')
    {%- endif -%}
{%- endmacro %}
