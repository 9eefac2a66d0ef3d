{#
  The reference values in force for each (country, state, pay month) that has payroll:
  the applicable statutory minimum wage converted to a month (daily rates x legal days per month),
  the legal hour limits and the social-security contribution rates. Incremental by country like int_worker_months,
  its only reader: a national refresh reads its own country's payroll. The payroll's distinct (factory, month) come
  before the join to the register, so the join meets a few thousand rows, not every worker-month.
#}
{{ country_incremental_config() }}
with factory_months as (
    select distinct country, factory_id, period_start from {{ ref('stg_payroll') }} {{ refreshed_countries_only() }}
),

months as (
    select distinct factory_months.country, factories.state, factory_months.period_start
    from factory_months
    inner join {{ ref('stg_factories') }} as factories
        on factories.country = factory_months.country and factories.factory_id = factory_months.factory_id
),

regions as (select * from {{ ref('ref_wage_regions') }}),

minimum_wages as (select * from {{ ref('ref_minimum_wages') }}),

hour_limits as (select * from {{ ref('ref_hour_limits') }}),

ss_rates as (select * from {{ ref('ref_social_security_rates') }}),

months_with_region as (
    select months.*, regions.wage_region
    from months
    left join regions on regions.iso3 = months.country and regions.state = months.state
),

minimum_in_force as (
    select
        m.country, m.state, m.period_start,
        mw.amount, mw.per, mw.currency as minimum_wage_currency,
        row_number() over (partition by m.country, m.state, m.period_start order by mw.effective_date desc) as recency
    from months_with_region as m
    inner join minimum_wages as mw
        on mw.iso3 = m.country
            and coalesce(mw.wage_region, '') = coalesce(m.wage_region, '')
            and mw.effective_date <= m.period_start
),

rates_in_force as (
    select
        m.country, m.period_start, r.component, r.employer_rate_pct, r.employee_rate_pct,
        row_number() over (partition by m.country, m.period_start, r.scheme, r.component order by r.effective_from desc) as recency
    from (select distinct country, period_start from months) as m
    inner join ss_rates as r on r.iso3 = m.country and r.effective_from <= m.period_start
),

rates as (
    select country, period_start, {{ exact_sum('employer_rate_pct + employee_rate_pct') }} as contribution_rate_pct
    from rates_in_force
    where recency = 1
    group by country, period_start
)

select
    months_with_region.country,
    months_with_region.state,
    months_with_region.period_start,
    months_with_region.wage_region,
    case when minimum_in_force.per = 'day' then minimum_in_force.amount * hour_limits.days_per_month
        else minimum_in_force.amount
    end as minimum_wage_monthly,
    minimum_in_force.minimum_wage_currency,
    hour_limits.regular_hours_month,
    hour_limits.overtime_limit_month,
    rates.contribution_rate_pct
from months_with_region
left join minimum_in_force
    on minimum_in_force.country = months_with_region.country
        and minimum_in_force.state is not distinct from months_with_region.state
        and minimum_in_force.period_start = months_with_region.period_start
        and minimum_in_force.recency = 1
left join hour_limits on hour_limits.iso3 = months_with_region.country
left join rates on rates.country = months_with_region.country and rates.period_start = months_with_region.period_start
