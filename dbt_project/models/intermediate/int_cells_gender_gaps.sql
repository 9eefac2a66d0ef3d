{#
  The gender-gap cells (topic `gender_gaps` of seeds/ref_indicators.csv): the raw gender pay gaps of mean and median
  hourly earnings (overall, by years in the programme and by occupation), the factor-weighted gap, the shares of
  women in the workforce and among supervisors, among PICC worker representatives, and their representation parity.
  In the shape of int_indicator_cells, which unions the topics; ephemeral, compiled into it.
#}
{{ config(materialized='ephemeral') }}
-- the parts that count each country's workers and factories (int_country_gap_parts), for X_BW added up
with gap_parts as ({{ pooled_parts(ref('int_country_gap_parts')) }}
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
    select country, year, classif1, n_factories from gap_parts
    union all
    select pool, year, classif1, cast(sum(n_factories) as bigint)
    from gap_parts
    where pool is not null
    group by pool, year, classif1
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
    -- weighted by the stratum's share of workers among strata that employ both sexes (int_country_gap_parts)
    select
        country as ref_area, 'GPG_FACTOR_WEIGHTED', 'SEX_T', '_Z', year,
        cast(weighted_gap_sum as double) / weighted_workers, 'PCT',
        weighted_workers as n_workers, weighted_factories as n_factories,
        weighted_women as n_workers_f, weighted_men as n_workers_m,
        weighted_factories as n_factories_f, weighted_factories as n_factories_m,
        cast(weighted_gap_sum as double) as numerator, weighted_workers as denominator
    from gap_parts
    where classif1 = '_Z' and weighted_workers is not null
    union all
    select
        pool, 'GPG_FACTOR_WEIGHTED', 'SEX_T', '_Z', year,
        cast(sum(weighted_gap_sum) as double) / sum(weighted_workers), 'PCT',
        sum(weighted_workers), cast(sum(weighted_factories) as bigint),
        sum(weighted_women), sum(weighted_men), cast(sum(weighted_factories) as bigint),
        cast(sum(weighted_factories) as bigint),
        cast(sum(weighted_gap_sum) as double), sum(weighted_workers)
    from gap_parts
    where classif1 = '_Z' and weighted_workers is not null and pool is not null
    group by pool, year
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

-- the workforce of the same factories (distinct payroll workers of the year, int_country_gap_parts) for the
-- parity ratio; X_BW over every country, as worker_reps
rep_workforce as (
    select country, year, 100 * cast(rep_workforce_women as double) / rep_workforce as female_share
    from gap_parts
    where classif1 = '_Z' and rep_workforce > 0
    union all
    select 'X_BW', year, 100 * cast(sum(rep_workforce_women) as double) / sum(rep_workforce)
    from gap_parts
    where classif1 = '_Z' and rep_workforce > 0
    group by year
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
