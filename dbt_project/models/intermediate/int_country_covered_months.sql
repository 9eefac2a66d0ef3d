{#
  The months each country's payroll covers, per year, and whether its social-security extract covers them too
  (int_worker_months: has_social_security): one row per country and month, the input of int_coverage. Incremental
  by country like int_worker_months, so a national refresh reads its own country's worker-months only, not every
  country's (issue 32).
#}
{{ country_incremental_config() }}
select distinct country, year, period, has_social_security
from {{ ref('int_worker_months') }} {{ refreshed_countries_only() }}
