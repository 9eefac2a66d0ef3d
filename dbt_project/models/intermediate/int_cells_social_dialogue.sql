{#
  The social-dialogue cells (topic `social_dialogue` of seeds/ref_indicators.csv): union membership, comfort in
  approaching a union representative or the PICC, concerns about sexual harassment and verbal abuse (worker survey),
  and the share of active register factories whose PICC has members on both sides. In the shape of
  int_indicator_cells, which unions the topics; ephemeral, compiled into it.
#}
{{ config(materialized='ephemeral') }}
with survey as (select * from {{ ref('stg_worker_survey') }} {{ without_excluded_countries() }}),

picc as (select * from {{ ref('int_picc_year_end') }} {{ without_excluded_countries() }}),

factories as (select * from {{ ref('stg_factories') }} {{ without_excluded_countries(year=none) }}),

{{ survey_rate_cells(
    binary=[
        ('UNION_MEMBER_RT', 'union_member'),
        ('WS_CONCERN_SEXUAL_HARASSMENT_RT', 'concern_sexual_harassment'),
        ('WS_CONCERN_VERBAL_ABUSE_RT', 'concern_verbal_abuse'),
    ],
    comfort=[('WS_COMFORT_UNION_RT', 'comfort_union'), ('WS_COMFORT_PICC_RT', 'comfort_picc')],
) }},

picc_sides as (
    select
        country, year, factory_id,
        max(case when category = 'Workers' then 1 else 0 end) * max(case when category = 'Management' then 1 else 0 end)
            as both_sides
    from picc
    group by country, year, factory_id
),

active_factories as (
    select factories.country, years.year, factories.factory_id
    from factories
    inner join (select distinct country, year from picc) as years on years.country = factories.country
    where factories.is_active
),

picc_active_cells as (
    select
        {{ ref_area('active_factories.country') }} as ref_area, 'PICC_ACTIVE_RT' as indicator, 'SEX_T' as sex,
        '_Z' as classif1, active_factories.year as time,
        100 * avg(coalesce(picc_sides.both_sides, 0)) as obs_value, 'PCT' as unit, cast(null as bigint) as n_workers,
        count(*) as n_factories, 100 * sum(coalesce(picc_sides.both_sides, 0)) as numerator, count(*) as denominator
    from active_factories
    left join picc_sides
        on picc_sides.country = active_factories.country and picc_sides.year = active_factories.year
            and picc_sides.factory_id = active_factories.factory_id
    group by grouping sets ((active_factories.country, active_factories.year), (active_factories.year))
)

{{ indicator_cells_select([('survey_cells', 'workers'), ('picc_active_cells', 'factories')]) }}
