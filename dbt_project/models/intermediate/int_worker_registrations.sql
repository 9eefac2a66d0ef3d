{#
  Each social-security worker's registration date: the earliest over all of the worker's returns. Apart from
  int_worker_months because one month's returns can move it earlier, and so change whether the worker's earlier
  months count as registered (int_month_parts: is_registered), while int_worker_months is rebuilt month by month.
  Incremental by country (macros/incremental.sql).
#}
{{ country_incremental_config() }}
select country, {{ worker_key('country', 'worker_pid') }} as worker_key, min(registration_date) as registration_date
from {{ ref('stg_social_security') }} {{ refreshed_countries_only() }}
group by 1, 2
