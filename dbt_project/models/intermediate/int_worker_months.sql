{#
  The analysis unit of wages, gaps and social protection: one payroll worker-month with its
  factory, years in the programme, the references in force, currency conversions and its
  social-security record (has_social_security: the social-security extract covers the month, so the linked
  indicators may count it). The worker is its key (macros/join_keys.sql: worker_key), not its pseudonym.
  The payroll columns that no model and no risk feature reads (contract type, pay basis, days worked, total
  hours) stay in stg_payroll: this is the widest table at scale. Incremental by country and month
  (macros/incremental.sql): each row depends on its own month's payroll and returns only, so a delivery that
  changes some months rebuilds those months. Whether the worker was registered by the month's end depends on all
  of the worker's returns (the earliest registration date) and so lives in int_worker_registrations.
#}
{{ country_incremental_config(by_month=true) }}
with payroll as (
    select
        country, factory_id, {{ worker_key('country', 'worker_pid') }} as worker_key, period, year, period_start, sex,
        occupation, payment_method, currency, regular_hours, overtime_hours, basic_pay, overtime_pay, allowances,
        bonuses, earnings, hourly_earnings
    from {{ ref('stg_payroll') }} {{ refreshed_months_only() }}
),

factories as (select * from {{ ref('stg_factories') }}),

refs as (select * from {{ ref('int_month_references') }}),

fx as (select * from {{ ref('ref_exchange_rates') }}),

ppp as (select * from {{ ref('ref_ppp_factors') }}),

social_security as (
    select
        country, {{ worker_key('country', 'worker_pid') }} as worker_key, period, insurable_wage,
        employer_contribution, employee_contribution, paid_date
    from {{ ref('stg_social_security') }} {{ refreshed_months_only() }}
),

-- the months the social-security extract covers: a payroll month outside them has no record to link to yet
linked_months as (select distinct country, period from social_security),

contributions as (
    select
        country, worker_key, period,
        {{ exact_sum('insurable_wage') }} as insurable_wage,
        {{ exact_sum(
            'case when paid_date is not null '
            ~ 'then coalesce(employer_contribution, 0) + coalesce(employee_contribution, 0) else 0 end'
        ) }} as contribution_paid,
        max(
            case
                when paid_date is not null and coalesce(employer_contribution, 0) + coalesce(employee_contribution, 0) > 0 then 1 else 0
            end
        ) as is_paid
    from social_security
    group by country, worker_key, period
)

select
    payroll.*,
    factories.state,
    factories.enrolment_date,
    {{ completed_years('factories.enrolment_date', 'payroll.period_start') }} as years_in_programme,
    refs.minimum_wage_monthly,
    refs.regular_hours_month,
    refs.overtime_limit_month,
    refs.contribution_rate_pct,
    -- the minimum pro-rated for partial months by the regular hours worked
    refs.minimum_wage_monthly * least(1.0, payroll.regular_hours / refs.regular_hours_month) as minimum_wage_due,
    fx.lcu_per_usd,
    ppp.ppp_lcu_per_intl_usd,
    coalesce(contributions.is_paid, 0) = 1 as is_contribution_paid,
    coalesce(contributions.insurable_wage, payroll.basic_pay) * refs.contribution_rate_pct / 100 as contribution_due,
    coalesce(contributions.contribution_paid, 0) as contribution_paid,
    linked_months.period is not null as has_social_security
from payroll
inner join factories on factories.country = payroll.country and factories.factory_id = payroll.factory_id
left join refs
    on refs.country = payroll.country and refs.state is not distinct from factories.state and refs.period_start = payroll.period_start
left join fx on fx.currency = payroll.currency and fx.year = payroll.year
left join ppp on ppp.iso3 = payroll.country and ppp.year = payroll.year
left join contributions
    on contributions.country = payroll.country and contributions.worker_key = payroll.worker_key and contributions.period = payroll.period
left join linked_months on linked_months.country = payroll.country and linked_months.period = payroll.period
