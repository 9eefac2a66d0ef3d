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
        {% set root = env_var('DECENTWORK_DATA_DIR', '../data') %}
        {% do run_query('create schema if not exists extracts') %}
        {% for source in graph.sources.values() if source.source_name == 'extracts' %}
            {% do run_query('create or replace view extracts.' ~ source.name ~ ' as select * from parquet.`' ~ root ~ '/staging/' ~ source.name ~ '`') %}
        {% endfor %}
    {% endif %}
    {{ return('') }}
{% endmacro %}

{#
  The disclosure-controlled cells (source `disclosure`, written between the two dbt builds of a refresh by the
  Dagster asset disclosure/controlled_cells). DuckDB reads the file through the source's external_location;
  Spark gets a view, created just before the model that reads it (the file does not exist before).
#}
{% macro register_disclosure_source() %}
    {{ return(adapter.dispatch('register_disclosure_source', 'decentwork')()) }}
{% endmacro %}

{% macro default__register_disclosure_source() %}
    {{ return('') }}
{% endmacro %}

{% macro spark__register_disclosure_source() %}
    {% if execute %}
        {% set root = env_var('DECENTWORK_DATA_DIR', '../data') %}
        {% do run_query('create schema if not exists disclosure') %}
        {% for source in graph.sources.values() if source.source_name == 'disclosure' %}
            {% do run_query('create or replace view disclosure.' ~ source.name ~ ' as select * from parquet.`' ~ root ~ '/disclosure/' ~ source.name ~ '.parquet`') %}
        {% endfor %}
    {% endif %}
    {{ return('') }}
{% endmacro %}
