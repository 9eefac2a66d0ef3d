{#
  The worker strata of each year (macros/worker_strata.sql), stored so that int_indicator_cells reads
  them from a table: as a CTE shared by its many consumers, DuckDB spilled about 12 GB at the full
  programme's scale and the cells took twice as long. Incremental by country, like int_worker_months.
#}
{{ country_incremental_config() }}
with worker_months as (select * from {{ ref('int_worker_months') }} {{ refreshed_countries_only() }}),

months as ({{ grouped_worker_months() }}
)

{{ worker_strata_rows() }}
