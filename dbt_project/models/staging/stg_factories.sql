with source as (select * from {{ source('extracts', 'factories') }})

select
    country,
    factory_id,
    factory_name,
    state,
    enrolment_date,
    status,
    factory_name like '%(Obsolete)%' as is_obsolete,
    status = 'Active' and factory_name not like '%(Obsolete)%' as is_active,
    total_workers,
    female_workers,
    male_workers,
    first_product
from source
