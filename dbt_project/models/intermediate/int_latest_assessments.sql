{# NCQ findings of each factory's latest assessment (largest Quest ID) among those started in a year. #}
with findings as (select * from {{ ref('stg_assessments') }} where question_type = 'NCQ' and cluster_code is not null),

latest as (
    select country, factory_id, year, max(assessment_id) as assessment_id
    from findings
    group by country, factory_id, year
)

select findings.*
from findings
inner join latest
    on latest.country = findings.country
        and latest.factory_id = findings.factory_id
        and latest.assessment_id = findings.assessment_id
