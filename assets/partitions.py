"""Country partitions: one per programme country of the reference seed, in its order."""

import dagster as dg

from schemas.reference import programme_countries

country_partitions = dg.StaticPartitionsDefinition(sorted(programme_countries()))
