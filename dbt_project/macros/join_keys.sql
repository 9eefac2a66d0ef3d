{#- A compact join key for a worker pseudonym (a 64-character HMAC-SHA256 in hex). On DuckDB it is the
    pseudonym's MD5 as a 128-bit integer: a hash join then holds 16 bytes per key instead of a 64-character
    string, which at the programme's scale (SF 1: 25.8 million payroll worker-months against 14.9 million
    social-security rows) is what made int_worker_months spill gigabytes to disk (README, "Speed at scale").
    Two different pseudonyms share a key with probability about n^2 / 2^129 (the birthday bound): about
    10^-26 for the programme's 2.4 million workers, 10^-21 for a billion. Spark joins on the pseudonym itself. -#}
{% macro worker_join_key(expression) -%}
    {{ return(adapter.dispatch('worker_join_key', 'decentwork')(expression)) }}
{%- endmacro %}

{% macro default__worker_join_key(expression) -%}
    {{ expression }}
{%- endmacro %}

{% macro duckdb__worker_join_key(expression) -%}
    md5_number({{ expression }})
{%- endmacro %}
