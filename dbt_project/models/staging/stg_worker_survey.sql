{# Survey answers; -98/-99 are already NULL (missing) from ingestion. #}
with source as (select * from {{ source('extracts', 'worker_survey') }})

select
    country,
    factory_id,
    respondent_pid,
    survey_round,
    survey_date,
    cast(extract(year from survey_date) as integer) as year,
    sex,
    age_band,
    migrant,
    union_member,
    picc_exists,
    concern_sexual_harassment,
    concern_verbal_abuse,
    concern_dangerous_equipment,
    concern_accidents,
    concern_late_pay,
    comfort_supervisor,
    comfort_union,
    comfort_picc
from source
