{#
  The gender-gap cells (topic `gender_gaps` of seeds/ref_indicators.csv): the raw gender pay gaps of mean and median
  hourly earnings (overall, by years in the programme and by occupation), the factor-weighted gap, the shares of
  women in the workforce and among supervisors, among PICC worker representatives, and their representation parity.
  In the shape of int_indicator_cells, which unions the topics; ephemeral, compiled into it.
#}
{{ config(materialized='ephemeral') }}
{% set breakdowns = [('_Z', "'_Z'"), ('yip', 'yip_group'), ('occupation', "'OCU_' || upper(occupation)")] %}
with worker_strata as {{ inline_cte() }} ({{ pooled_worker_strata() }}
),

picc as (select * from {{ ref('int_picc_year_end') }} {{ without_excluded_countries() }}),

worker_counts as (select * from {{ ref('int_worker_counts') }}),

-- a country's gap is computed in its own currency; the pooled gap in PPP dollars (currencies differ)
hourly_by_sex as (
    select
        country, year, classif1, sex, n_workers, n_factories,
        case when country = 'X_BW' then mean_ppp else mean_lcu end as mean_hourly
    from {{ ref('int_hourly_means') }}
),

-- the median cells of the wages (int_cells_wages), in the same currencies
median_by_sex as (
    select
        ref_area as country, time as year, '_Z' as classif1, substr(sex, 5) as sex, n_workers, n_factories,
        obs_value as median_hourly
    from {{ ref('int_cells_wages') }}
    where indicator = 'EAR_MEDIAN_HOURLY' and sex <> 'SEX_T'
        and classif1 = case when ref_area = 'X_BW' then 'CUR_TYPE_PPP' else 'CUR_TYPE_LCU' end
),

-- a gap rests on the factories of both sexes together (their union, not the larger of the two)
gap_factories as (
    {% for name, classif1 in breakdowns %}
        select
            * from (
            select {{ ref_area(pool='pool') }} as country, year, {{ classif1 }} as classif1, count(distinct factory_key) as n_factories
            from worker_strata
            group by grouping sets ((country, year, {{ classif1 }}), (pool, year, {{ classif1 }}))
        ) as grouped
        {{ pooled_groups_only() }}
        {% if not loop.last %}union all{% endif %}
    {% endfor %}
),
{% set gaps = [('GPG_MEAN_HOURLY', 'mean_hourly', 'hourly_by_sex'), ('GPG_MEDIAN_HOURLY', 'median_hourly', 'median_by_sex')] %}
gap_cells as (
    {% for indicator, statistic, by_sex in gaps %}
        select
            women.country as ref_area, '{{ indicator }}' as indicator, 'SEX_T' as sex, women.classif1, women.year as time,
            100 * (men.{{ statistic }} - women.{{ statistic }}) / men.{{ statistic }} as obs_value, 'PCT' as unit,
            women.n_workers + men.n_workers as n_workers, both_sexes.n_factories,
            women.n_workers as n_workers_f, men.n_workers as n_workers_m,
            women.n_factories as n_factories_f, men.n_factories as n_factories_m,
            cast(null as double) as numerator, cast(null as double) as denominator
        from {{ by_sex }} as women
        inner join {{ by_sex }} as men
            on men.country = women.country and men.year = women.year and men.classif1 = women.classif1 and men.sex = 'M'
        inner join gap_factories as both_sexes
            on both_sexes.country = women.country and both_sexes.year = women.year and both_sexes.classif1 = women.classif1
        where women.sex = 'F' and men.{{ statistic }} > 0
        union all
    {% endfor %}
    -- ILO Global Wage Report factor-weighted gap: the gap within each factory x occupation stratum,
    -- weighted by the stratum's share of workers among strata that employ both sexes
    select
        country as ref_area, 'GPG_FACTOR_WEIGHTED', 'SEX_T', '_Z', year,
        {{ exact_sum('stratum_workers * stratum_gap') }} / sum(stratum_workers), 'PCT',
        sum(stratum_workers), count(distinct factory_key),
        sum(women), sum(men), count(distinct factory_key), count(distinct factory_key),
        {{ exact_sum('stratum_workers * stratum_gap') }}, sum(stratum_workers)
    from (
        select
            {{ ref_area(pool='pool') }} as country, year, factory_key, occupation,
            count(distinct worker_key) as stratum_workers,
            count(distinct case when sex = 'F' then worker_key end) as women,
            count(distinct case when sex = 'M' then worker_key end) as men,
            100 * ({{ mean_of_parts('hourly_lcu', "sex = 'M'") }} - {{ mean_of_parts('hourly_lcu', "sex = 'F'") }})
            / {{ mean_of_parts('hourly_lcu', "sex = 'M'") }} as stratum_gap
        from worker_strata
        group by grouping sets ((country, year, factory_key, occupation), (pool, year, factory_key, occupation))
    ) as strata
    where women > 0 and men > 0 and stratum_gap is not null and country is not null  -- country-years X_BW leaves out
    group by country, year
),

share_cells as (
    select
        total.country as ref_area, 'FEMALE_SHARE_WORKFORCE' as indicator, 'SEX_T' as sex, '_Z' as classif1,
        total.year as time, 100 * cast(women.n_workers as double) / total.n_workers as obs_value, 'PCT' as unit,
        total.n_workers, total.n_factories,
        100 * cast(women.n_workers as double) as numerator, cast(total.n_workers as double) as denominator
    from worker_counts as total
    inner join worker_counts as women on women.country = total.country and women.year = total.year and women.sex = 'SEX_F'
    where total.sex = 'SEX_T'
    union all
    select
        total.country, 'FEMALE_SHARE_SUPERVISORS', 'SEX_T', '_Z', total.year,
        100 * cast(women.n_supervisors as double) / total.n_supervisors, 'PCT', total.n_supervisors,
        total.n_factories_supervisors,
        100 * cast(women.n_supervisors as double), cast(total.n_supervisors as double)
    from worker_counts as total
    inner join worker_counts as women on women.country = total.country and women.year = total.year and women.sex = 'SEX_F'
    where total.sex = 'SEX_T' and total.n_supervisors > 0
),

worker_reps as (
    select
        {{ ref_area() }} as country, year,
        100 * avg(case when sex = 'F' then 1 else 0 end) as female_share,
        100 * sum(case when sex = 'F' then 1 else 0 end) as female_num, count(*) as members_den,
        count(distinct country || ':' || member_pid) as n_members,
        count(distinct country || ':' || cast(factory_id as string)) as n_factories
    from picc
    where category = 'Workers'
    group by grouping sets ((country, year), (year))
),

-- the workforce of the same factories (distinct payroll workers of the year) for the parity ratio
rep_factories as (select distinct country, year, factory_id from picc where category = 'Workers'),

rep_workforce as (
    select
        {{ ref_area('rep_factories.country') }} as country, rep_factories.year,
        100 * cast(count(distinct case when strata.sex = 'F' then strata.worker_key end) as double)
        / count(distinct strata.worker_key) as female_share
    from rep_factories
    inner join worker_strata as strata
        on strata.country = rep_factories.country and strata.year = rep_factories.year
            and strata.factory_id = rep_factories.factory_id
    group by grouping sets ((rep_factories.country, rep_factories.year), (rep_factories.year))
),

picc_cells as (
    select
        country as ref_area, 'PICC_FEMALE_SHARE_WORKER_REPS' as indicator, 'SEX_T' as sex, '_Z' as classif1,
        year as time, female_share as obs_value, 'PCT' as unit, n_members as n_workers, n_factories,
        female_num as numerator, members_den as denominator
    from worker_reps
    union all
    select
        worker_reps.country, 'PICC_REPRESENTATION_PARITY', 'SEX_T', '_Z', worker_reps.year,
        worker_reps.female_share / rep_workforce.female_share, 'RATIO', worker_reps.n_members, worker_reps.n_factories,
        cast(null as double), cast(null as double)
    from worker_reps
    inner join rep_workforce on rep_workforce.country = worker_reps.country and rep_workforce.year = worker_reps.year
    where rep_workforce.female_share > 0
)

{{ indicator_cells_select([('share_cells', 'workers'), ('picc_cells', 'workers'), ('gap_cells', 'gap')]) }}
