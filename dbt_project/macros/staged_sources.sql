{#
  The staged Parquet as the `extracts` sources. DuckDB reads it through each source's external_location
  (models/staging/__sources.yml), so nothing runs there. Spark gets one view per source over the same
  folder (partition discovery turns country=<ISO3>/ into the `country` column), created at the start of
  every run so sources() resolve to them unchanged.
#}
{% macro register_staged_sources() %}
    {{ return(adapter.dispatch('register_staged_sources', 'decentwork')()) }}
{% endmacro %}

{% macro default__register_staged_sources() %}
    {{ return('') }}
{% endmacro %}

{% macro spark__register_staged_sources() %}
    {% if execute %}
        {% set root = env_var('DECENTWORK_DATA_DIR', 'data') %}
        {% do run_query('create schema if not exists extracts') %}
        {% for source in graph.sources.values() if source.source_name == 'extracts' %}
            {% do run_query('create or replace view extracts.' ~ source.name ~ ' as select * from parquet.`' ~ root ~ '/staging/' ~ source.name ~ '`') %}
        {% endfor %}
    {% endif %}
    {{ return('') }}
{% endmacro %}
