{#
  The occupational safety and health cells (topic `osh` of seeds/ref_indicators.csv): non-compliance by cluster and
  by compliance point (latest assessment of each factory in the year) and the survey's concerns about dangerous
  equipment and accidents. In the shape of int_indicator_cells, which unions the topics; ephemeral, compiled into it.
#}
{{ config(materialized='ephemeral') }}
{% set compliance_levels = [('NC_CLUSTER_RT', 'cluster_code'), ('NC_CP_RT', 'cp_code')] %}
with latest_findings as (select * from {{ ref('int_latest_assessments') }} {{ without_excluded_countries() }}),

survey as (select * from {{ ref('stg_worker_survey') }} {{ without_excluded_countries() }}),

compliance_cells as (
    {% for indicator, level in compliance_levels %}
        select
            {{ ref_area() }} as ref_area, '{{ indicator }}' as indicator, 'SEX_T' as sex, {{ level }} as classif1,
            year as time, 100 * avg(non_compliant) as obs_value, 'PCT' as unit, cast(null as bigint) as n_workers,
            count(*) as n_factories, 100 * sum(non_compliant) as numerator, count(*) as denominator
        from (
            select country, year, factory_id, {{ level }}, max(non_compliant) as non_compliant
            from latest_findings
            group by country, year, factory_id, {{ level }}
        ) as factory_level
        group by grouping sets ((country, year, {{ level }}), (year, {{ level }}))
        {% if not loop.last %}union all{% endif %}
    {% endfor %}
),

{{ survey_rate_cells(binary=[
    ('WS_CONCERN_DANGEROUS_EQUIPMENT_RT', 'concern_dangerous_equipment'),
    ('WS_CONCERN_ACCIDENTS_RT', 'concern_accidents'),
]) }}

{{ indicator_cells_select([('survey_cells', 'workers'), ('compliance_cells', 'factories')]) }}
