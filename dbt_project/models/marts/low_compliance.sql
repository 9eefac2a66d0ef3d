{#
  The low-compliance list (Better Factories Cambodia's second level of public disclosure), for the countries whose
  programme publishes one (seed ref_low_compliance_lists: published = true, off by default; read through
  int_low_compliance_lists, so that no published mart waits on a seed). A factory's compliance rate is the share of
  the NCQ questions of its latest assessment (largest Quest ID, as in factory_compliance) found compliant: all of
  them, not only the publicly disclosed ones. Per country, the mean and the sample standard deviation (n - 1) of that
  rate over every factory's latest assessment; listed: the factories with at least min_assessments assessments whose
  rate is below mean - sd_below x sd. The mean and the squared deviations are summed in DECIMAL and the published
  figures rounded in DECIMAL (macros/exact_aggregates.sql), so every run and engine gives the same bits.
  Factory-level by design: it names factories, never workers.
#}
with lists as (select * from {{ ref('int_low_compliance_lists') }}),

assessments as (
    select
        country,
        factory_id,
        assessment_id,
        min(assessment_start_date) as assessment_start_date
    from {{ ref('stg_assessments') }}
    group by country, factory_id, assessment_id
),

ranked as (
    select
        *,
        count(*) over (partition by country, factory_id) as n_assessments,
        row_number() over (partition by country, factory_id order by assessment_id desc) as recency
    from assessments
),

rates as (
    select
        country,
        assessment_id,
        100 * cast(sum(case when non_compliant = 0 then 1 else 0 end) as double) / count(*) as compliance_rate
    from {{ ref('stg_assessments') }}
    where question_type = 'NCQ' and non_compliant is not null
    group by country, assessment_id
),

latest as (
    select
        ranked.country,
        ranked.factory_id,
        ranked.assessment_id,
        ranked.assessment_start_date,
        ranked.n_assessments,
        rates.compliance_rate
    from ranked
    inner join rates on ranked.country = rates.country and ranked.assessment_id = rates.assessment_id
    inner join lists on ranked.country = lists.country
    where ranked.recency = 1
),

means as (
    select
        country,
        {{ exact_avg('compliance_rate') }} as country_mean,
        count(*) as n_factories
    from latest
    group by country
),

spreads as (
    select
        means.country,
        means.country_mean,
        means.n_factories,
        sqrt(
            {{ exact_sum('(latest.compliance_rate - means.country_mean) * (latest.compliance_rate - means.country_mean)') }}
            / nullif(means.n_factories - 1, 0)
        ) as country_sd
    from means
    inner join latest on means.country = latest.country
    group by means.country, means.country_mean, means.n_factories
),

compared as (
    select
        latest.*,
        spreads.country_mean,
        spreads.country_sd,
        spreads.n_factories,
        lists.min_assessments,
        lists.rule,
        spreads.country_mean - lists.sd_below * spreads.country_sd as threshold
    from latest
    inner join spreads on latest.country = spreads.country
    inner join lists on latest.country = lists.country
),

factories as (select * from {{ ref('stg_factories') }})

select
    compared.country,
    compared.factory_id,
    factories.factory_name,
    compared.assessment_id,
    compared.assessment_start_date,
    compared.n_assessments,
    {{ exact_round('compared.compliance_rate', 1) }} as compliance_rate_pct,
    {{ exact_round('compared.country_mean', 1) }} as country_mean_pct,
    {{ exact_round('compared.country_sd', 1) }} as country_sd_pct,
    {{ exact_round('compared.threshold', 1) }} as threshold_pct,
    compared.n_factories as n_factories_compared,
    compared.rule
from compared
left join factories on compared.country = factories.country and compared.factory_id = factories.factory_id
where compared.n_assessments >= compared.min_assessments and compared.compliance_rate < compared.threshold
