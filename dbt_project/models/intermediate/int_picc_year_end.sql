{#
  PICC members current on 31 December of each year the country has payroll, assessment or survey
  data for: joined on or before that day and not left by it.
#}
with members as (select * from {{ ref('stg_picc_members') }}),

data_years as (
    select distinct country, year from {{ ref('stg_payroll') }}
    union
    select distinct country, year from {{ ref('stg_assessments') }}
    union
    select distinct country, year from {{ ref('stg_worker_survey') }}
)

select
    data_years.year,
    members.*
from data_years
inner join members
    on members.country = data_years.country
        and members.date_joined <= {{ year_end('data_years.year') }}
        and (members.date_left is null or members.date_left > {{ year_end('data_years.year') }})
