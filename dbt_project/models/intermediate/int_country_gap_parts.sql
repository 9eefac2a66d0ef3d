{#
  The parts of the gender-gap cells that count workers and factories of a country, one row per country, year and
  breakdown (classif1: _Z, YIP_<years>, OCU_<occupation>), from the worker strata: the factories of both sexes a gap
  rests on; on the _Z row, the sums of the factor-weighted gap over the factory x occupation strata that employ both
  sexes (ILO Global Wage Report) and the payroll workforce of the factories with PICC worker representatives (the
  parity ratio). int_cells_gender_gaps adds them up for the pooled X_BW: strata and keys belong to one country, so a
  pooled sum is the sum of the countries'. Incremental by country like int_worker_strata.
#}
{{ country_incremental_config() }}
{% set breakdowns = [('_Z', "'_Z'"), ('yip', 'yip_group'), ('occupation', "'OCU_' || upper(occupation)")] %}
with worker_strata as (select * from {{ ref('int_worker_strata') }} {{ refreshed_countries_only() }}),

picc as (select * from {{ ref('int_picc_year_end') }} {{ refreshed_countries_only() }}),

-- a gap rests on the factories of both sexes together (their union, not the larger of the two)
gap_factories as (
    {% for name, classif1 in breakdowns %}
        select country, year, {{ classif1 }} as classif1, count(distinct factory_key) as n_factories
        from worker_strata
        group by country, year, {{ classif1 }}
        {% if not loop.last %}union all{% endif %}
    {% endfor %}
),

-- the gap within each factory x occupation stratum and the stratum's workers
factory_strata as (
    select
        country, year, factory_key, occupation,
        count(distinct worker_key) as stratum_workers,
        count(distinct case when sex = 'F' then worker_key end) as women,
        count(distinct case when sex = 'M' then worker_key end) as men,
        100 * ({{ mean_of_parts('hourly_lcu', "sex = 'M'") }} - {{ mean_of_parts('hourly_lcu', "sex = 'F'") }})
        / {{ mean_of_parts('hourly_lcu', "sex = 'M'") }} as stratum_gap
    from worker_strata
    group by country, year, factory_key, occupation
),

factor_weighted as (
    select
        country, year,
        {{ decimal_sum('stratum_workers * stratum_gap') }} as weighted_gap_sum, sum(stratum_workers) as weighted_workers,
        count(distinct factory_key) as weighted_factories, sum(women) as weighted_women, sum(men) as weighted_men
    from factory_strata
    where women > 0 and men > 0 and stratum_gap is not null
    group by country, year
),

-- the workforce of the factories with PICC worker representatives (distinct payroll workers of the year)
rep_factories as (select distinct country, year, factory_id from picc where category = 'Workers'),

rep_workforce as (
    select
        rep_factories.country, rep_factories.year,
        count(distinct case when strata.sex = 'F' then strata.worker_key end) as rep_workforce_women,
        count(distinct strata.worker_key) as rep_workforce
    from rep_factories
    inner join worker_strata as strata
        on strata.country = rep_factories.country and strata.year = rep_factories.year
            and strata.factory_id = rep_factories.factory_id
    group by rep_factories.country, rep_factories.year
)

select
    gap_factories.country, gap_factories.year, gap_factories.classif1, gap_factories.n_factories,
    factor_weighted.weighted_gap_sum, factor_weighted.weighted_workers, factor_weighted.weighted_factories,
    factor_weighted.weighted_women, factor_weighted.weighted_men,
    rep_workforce.rep_workforce_women, rep_workforce.rep_workforce
from gap_factories
left join factor_weighted
    on gap_factories.classif1 = '_Z' and factor_weighted.country = gap_factories.country
        and factor_weighted.year = gap_factories.year
left join rep_workforce
    on gap_factories.classif1 = '_Z' and rep_workforce.country = gap_factories.country
        and rep_workforce.year = gap_factories.year
