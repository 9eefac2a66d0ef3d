{#- A worker's key in the worker-level models: one 16-byte number per worker instead of the 64-character
    pseudonym (an HMAC-SHA256 in hex). On DuckDB it is the MD5 of `country:pseudonym` as a 128-bit integer; Spark
    keeps the text `country:pseudonym`. Either way it is unique across countries, so a distinct count of keys
    counts workers, pooled or not.
    Why: at the programme's scale (SF 1, 25.8 million worker-months) the pseudonyms made int_worker_months
    spill gigabytes to disk in its social-security join and write 1.6 GB of text (README, "Speed at scale").
    Two different workers share a key with probability about n^2 / 2^129 (the birthday bound): about 10^-26
    for the programme's 2.4 million workers, 10^-21 for a billion. -#}
{% macro worker_key(country, pseudonym) -%}
    {{ return(adapter.dispatch('worker_key', 'decentwork')(country, pseudonym)) }}
{%- endmacro %}

{% macro default__worker_key(country, pseudonym) -%}
    concat({{ country }}, ':', {{ pseudonym }})
{%- endmacro %}

{% macro duckdb__worker_key(country, pseudonym) -%}
    md5_number(concat({{ country }}, ':', {{ pseudonym }}))
{%- endmacro %}
