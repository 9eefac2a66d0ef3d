{#
  Every row of a low-compliance list follows the rule of its country in the seed ref_low_compliance_lists, in one
  query (one test, one asset check): every figure is present; the country publishes a list; the factory has at
  least min_assessments assessments; every percentage lies within [0, 100]; the factory's rate lies at or below the
  threshold (both rounded to 0.1, so strictly below unrounded); the threshold is the mean less sd_below standard
  deviations, to the rounding of the three figures; the rule is the seed's. A failing row names the factory and the
  rule it breaks.
#}
{% test low_compliance_rule(model) %}
with checked as (
    select m.*, l.published, l.min_assessments, l.sd_below, l.rule as seed_rule
    from {{ model }} as m
    left join {{ ref('ref_low_compliance_lists') }} as l on l.iso3 = m.country
)

select 'a figure is missing' as failure, country, factory_id
from checked
where assessment_id is null or n_assessments is null or compliance_rate_pct is null or country_mean_pct is null
    or country_sd_pct is null or threshold_pct is null or n_factories_compared is null or rule is null
union all
select 'the country publishes no low-compliance list' as failure, country, factory_id
from checked
where published is null or not published
union all
select 'fewer assessments than the rule asks' as failure, country, factory_id
from checked
where n_assessments < min_assessments
union all
select 'a percentage outside [0, 100]' as failure, country, factory_id
from checked
where least(compliance_rate_pct, country_mean_pct, country_sd_pct, threshold_pct) < 0
    or greatest(compliance_rate_pct, country_mean_pct, country_sd_pct, threshold_pct) > 100
union all
select 'the rate is above the threshold' as failure, country, factory_id
from checked
where not (compliance_rate_pct <= threshold_pct)
union all
select 'the threshold is not the mean less sd_below standard deviations' as failure, country, factory_id
from checked
where abs(threshold_pct - (country_mean_pct - sd_below * country_sd_pct)) > 0.05 * (2 + sd_below) + 1e-9
union all
select 'the rule differs from the seed' as failure, country, factory_id
from checked
where rule != seed_rule
{% endtest %}
