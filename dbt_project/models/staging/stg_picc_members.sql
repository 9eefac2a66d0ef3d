{# A member's sex comes from the Title, the only sex marker of this extract. #}
with source as (select * from {{ source('extracts', 'picc_members') }})

select
    country,
    factory_id,
    member_pid,
    case when title = 'Mr.' then 'M' else 'F' end as sex,
    category,
    date_joined,
    date_left,
    is_current_chair = 'Yes' as is_current_chair
from source
