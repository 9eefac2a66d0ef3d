{#
  The reference period behind each annual cell (docs/reading-the-marts.md, "Coverage"): the months of the year a
  country's payroll covers (family `payroll`), and the months both its payroll and its social-security extract
  cover (family `social_security`: the linked indicators rest on those months only). A year with fewer than 12
  months is provisional. A country pools into X_BW in a year when its payroll covers every month that any
  country's payroll covers in that year (comparable coverage); the others publish their own cells only, and the
  X_BW rows name the countries they pool and those they leave out.
#}
with covered_months as (
    select country, year, period, has_social_security
    from {{ ref('int_country_covered_months') }} {{ without_excluded_countries() }}
),

months as (
    select distinct country, year, 'payroll' as family, period from covered_months
    union all
    select distinct country, year, 'social_security' as family, period from covered_months where has_social_security
),

by_country as (
    select country, year, family, count(*) as months_covered, min(period) as first_period, max(period) as last_period
    from months
    group by country, year, family
),

reference_months as (  -- every month some country's payroll covers in the year
    select year, count(distinct period) as n_months from months where family = 'payroll' group by year
),

pooling as (
    select by_country.country, by_country.year, by_country.months_covered = reference_months.n_months as pooled
    from by_country
    inner join reference_months on reference_months.year = by_country.year
    where by_country.family = 'payroll'
),

countries as (
    select by_country.*, pooling.pooled
    from by_country
    inner join pooling on pooling.country = by_country.country and pooling.year = by_country.year
),

pooled as (
    select
        'X_BW' as country, year, family,
        min(case when pooled then months_covered end) as months_covered,
        max(case when pooled then months_covered end) as most_months,
        min(case when pooled then first_period end) as first_period,
        max(case when pooled then last_period end) as last_period,
        cast(null as boolean) as pooled,
        {{ sorted_list('case when pooled then country end') }} as pooled_countries,
        {{ sorted_list('case when not pooled then country end') }} as left_out
    from countries
    group by year, family
),

noted as (
    select
        country, year, family, months_covered, months_covered as most_months, first_period, last_period, pooled,
        cast(null as string) as pooled_countries, cast(null as string) as left_out
    from countries
    union all
    select * from pooled where months_covered is not null
)

select
    country, year, family, months_covered, first_period, last_period, pooled, pooled_countries,
    case when pooled_countries is not null then 'pools ' || pooled_countries || '; ' else '' end
    || case when family = 'payroll' then 'payroll' else 'payroll and social security' end
    || ' ' || first_period || case when months_covered > 1 then ' to ' || last_period else '' end
    || ' (' || case when most_months > months_covered then cast(months_covered as string) || ' to ' || cast(most_months as string)
        else cast(months_covered as string)
    end
    || ' month' || case when most_months > 1 then 's' else '' end
    || case when pooled_countries is not null then ' each' else '' end || ')'
    || case when months_covered < 12 then '; provisional: the year is not complete' else '' end
    || case when not pooled then '; not in X_BW (fewer months than another country)' else '' end
    || case when left_out is not null then '; not pooled (fewer months than the others): ' || left_out else '' end
        as coverage
from noted
