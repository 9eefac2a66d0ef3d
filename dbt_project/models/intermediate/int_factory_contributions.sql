{#
  The factory totals of disclosure control's dominance rule (assets/disclosure/rules.py): each country's slice of
  int_country_factory_contributions, but for the countries and country-years excluded this run (their cells
  failed a quality gate). Aggregates only: one row per factory and cell part, no worker.
#}
select population, country, year, sex, breakdown, factory_key, n
from {{ ref('int_country_factory_contributions') }} {{ without_excluded_countries() }}
