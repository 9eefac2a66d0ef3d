"""Worker pseudonyms: which key, and how an id becomes a pseudonym.

Design (docs/pseudonyms.md says more):
- A personal id (payroll's and social security's national_id, the survey's respondent_id, a PICC member's
  names) becomes HMAC-SHA256(key, normalised id), 64 hex characters. Normalising (upper case, no spaces,
  dashes, dots or slashes) makes "kh-001 234" and "KH001234" one worker. A composite id (first and last
  name) is prefixed with the pseudonym's column name, so it never collides with a single id.
- The key is the only link between payroll and social security: the same id under the same key gives the
  same pseudonym. It comes from DECENTWORK_PSEUDONYM_KEY (at least 32 characters), never from the repository.
- The public development key may pseudonymise generated samples only: a data root with any delivered file the
  sample generator did not write (raw/.sample-manifest.json records what it wrote) refuses to run without
  the variable, whatever DECENTWORK_ENV says. Nothing is staged.
- The staged data records a fingerprint of its key (staging/.pseudonym-key, never the key): a run with
  another key refuses, since payroll and social security pseudonymised under two keys silently stop linking.
  Rotating the key means re-pseudonymising everything: delete staging/, quarantine/, .ingest-cache/ and
  warehouse.duckdb, then run with the new key (the raw deliveries are kept, so nothing is lost).
"""

from __future__ import annotations

import hashlib
import hmac
import json
import threading
from pathlib import Path

import polars as pl

from assets.deliveries import delivered_files, outside_raw
from decentwork.settings import DEV_PSEUDONYM_KEY, Paths, environment_name, log, pseudonym_key_setting
from schemas.canonical import Extract

MIN_KEY_LENGTH = 32
SAMPLE_MANIFEST = ".sample-manifest.json"
FINGERPRINT_FILE = ".pseudonym-key"
HEAD_BYTES = 1 << 20
NEW_KEY_HINT = "e.g. `python -c 'import secrets; print(secrets.token_hex(32))'`"


class KeyRefused(RuntimeError):
    """No key may pseudonymise these deliveries: the message says why and what to do."""


# ------------------------------------------------------------------------------------------ which key
def generated_fingerprint(path: Path) -> str:
    """What the sample generator records of a file it wrote: its size and the SHA-256 of its first MiB
    (cheap at any scale; a delivery that is not the generator's differs in one or the other)."""
    with path.open("rb") as fh:
        head = fh.read(HEAD_BYTES)
    return f"{path.stat().st_size}:{hashlib.sha256(head).hexdigest()}"


def _not_generated(paths: Paths) -> list[str]:
    """Delivered files the sample generator did not write (or that changed since), relative to raw/."""
    return [f.relative_to(paths.raw).as_posix() for f in delivered_files(paths) if _not_generated_file(paths, f)]


def _manifest_without_fingerprints(paths: Paths) -> bool:
    try:
        return "fingerprints" not in json.loads((paths.raw / SAMPLE_MANIFEST).read_text(encoding="utf-8"))
    except (FileNotFoundError, ValueError):
        return False


def generated_by_the_sample(paths: Paths, path: Path) -> bool:
    """Whether the sample generator wrote `path` as it is now (checked again file by file at ingestion under the
    development key: a file dropped in after the run started is refused, not pseudonymised with the public key)."""
    return not _not_generated_file(paths, path)


def _not_generated_file(paths: Paths, path: Path) -> bool:
    try:
        written = json.loads((paths.raw / SAMPLE_MANIFEST).read_text(encoding="utf-8")).get("fingerprints", {})
    except (FileNotFoundError, ValueError):
        return True
    return outside_raw(paths, path) or written.get(path.relative_to(paths.raw).as_posix()) != generated_fingerprint(
        path
    )


def key_fingerprint(key: bytes) -> str:
    """A short keyed digest naming the key without revealing it."""
    return hmac.new(key, b"decentwork pseudonym key fingerprint v1", hashlib.sha256).hexdigest()[:16]


def pseudonym_key(paths: Paths) -> bytes:
    """The key for this data root, or KeyRefused (module docstring: the rules)."""
    setting = pseudonym_key_setting()
    if setting:
        if setting == DEV_PSEUDONYM_KEY:
            raise KeyRefused(
                "DECENTWORK_PSEUDONYM_KEY is the public development key, "
                "which is in the repository: pseudonyms made with it "
                f"protect nobody. Set a secret of your own ({NEW_KEY_HINT})"
            )
        if len(setting) < MIN_KEY_LENGTH:
            raise KeyRefused(
                f"DECENTWORK_PSEUDONYM_KEY is {len(setting)} characters "
                f"long: a key needs at least {MIN_KEY_LENGTH} random "
                f"characters ({NEW_KEY_HINT})"
            )
        key = setting.encode("utf-8")
    else:
        if environment_name() == "production":
            raise KeyRefused(
                "DECENTWORK_PSEUDONYM_KEY is not set. A production run "
                "needs the secret key that pseudonymises worker ids "
                "(HMAC-SHA256): set it in the environment (at least "
                f"{MIN_KEY_LENGTH} random characters, {NEW_KEY_HINT}) "
                "and keep it out of the repository"
            )
        foreign = _not_generated(paths)
        if foreign and _manifest_without_fingerprints(paths):
            raise KeyRefused(
                "DECENTWORK_PSEUDONYM_KEY is not set, and "
                f"{paths.raw / SAMPLE_MANIFEST} was written by an older sample generator "
                "that did not record its files, so nothing shows these "
                "extracts are generated. Generate the sample again "
                f"(delete {paths.raw} and run `decentwork run`), or set DECENTWORK_PSEUDONYM_KEY. Nothing was staged"
            )
        if foreign:
            raise KeyRefused(
                f"DECENTWORK_PSEUDONYM_KEY is not set, and {len(foreign)} "
                f"delivered file(s) under {paths.raw} were not written by "
                f"the sample generator (e.g. {foreign[0]}). The public "
                "development key may pseudonymise generated samples only: "
                "set DECENTWORK_PSEUDONYM_KEY to a secret of at least "
                f"{MIN_KEY_LENGTH} characters ({NEW_KEY_HINT}). Nothing was staged"
            )
        log.warning(
            "DECENTWORK_PSEUDONYM_KEY is not set: the public development key pseudonymises this generated sample"
        )
        key = DEV_PSEUDONYM_KEY.encode("utf-8")
    _check_staged_fingerprint(paths, key)
    return key


def _check_staged_fingerprint(paths: Paths, key: bytes) -> None:
    recorded = paths.staging / FINGERPRINT_FILE
    if recorded.exists() and recorded.read_text(encoding="utf-8").strip() != key_fingerprint(key):
        raise KeyRefused(
            f"the staged data under {paths.staging} was pseudonymised with another key (fingerprint "
            f"{recorded.read_text(encoding='utf-8').strip()}; this key's "
            f"is {key_fingerprint(key)}). Payroll and social security "
            "pseudonymised under two keys stop linking. Fix: run with "
            "the key the data was staged with, or, to rotate the key, "
            f"delete {paths.staging}, {paths.quarantine}, {paths.ingest_cache} and "
            f"{paths.warehouse} and run again (the raw deliveries are kept)"
        )


def record_key(paths: Paths, key: bytes) -> None:
    """Note the fingerprint of the key the staged data is pseudonymised with (before anything is staged)."""
    _check_staged_fingerprint(paths, key)
    recorded = paths.staging / FINGERPRINT_FILE
    if not recorded.exists():
        recorded.parent.mkdir(parents=True, exist_ok=True)
        recorded.write_text(key_fingerprint(key) + "\n", encoding="utf-8")


# ------------------------------------------------------------------------------------ id -> pseudonym
def normalise_id(values: pl.Expr) -> pl.Expr:
    """Ids compare equal across extracts whatever their spacing, dashes or case."""
    return values.str.to_uppercase().str.replace_all(r"[\s\-\./]", "")


class Digests:
    """Digests already computed with one key, in memory only: the same workers come back in every
    monthly file of a source and country, so each id is hashed once per ingestion. Shared by the threads
    validating the files of one country (the lock keeps an id from being added twice)."""

    def __init__(self) -> None:
        self.table = pl.DataFrame(schema={"id": pl.String, "pid": pl.String})
        self.lock = threading.Lock()


class _Hmac:
    """HMAC-SHA256 under one key, by its definition (RFC 2104, section 2): SHA256((K ^ opad) || SHA256((K ^ ipad) ||
    text)), with the two padded keys hashed once and each value's hashing started from copies of those states.

    The same digest as `hmac.digest(key, text, "sha256")`, about four times faster per value in CPython 3.11 with
    OpenSSL 3 (1.0 against 4.4 µs): the one-shot call sets an HMAC context up for every value, and ingestion hashes
    every worker it has not seen before."""

    BLOCK = 64  # SHA-256's block size in bytes

    def __init__(self, key: bytes) -> None:
        if len(key) > self.BLOCK:  # a key longer than a block is hashed first (RFC 2104)
            key = hashlib.sha256(key).digest()
        key = key.ljust(self.BLOCK, b"\0")
        self.inner = hashlib.sha256(bytes(b ^ 0x36 for b in key))
        self.outer = hashlib.sha256(bytes(b ^ 0x5C for b in key))

    def hex_digests(self, values: list[str]) -> list[str]:
        out = []
        for value in values:
            inner = self.inner.copy()
            inner.update(value.encode("utf-8"))
            outer = self.outer.copy()
            outer.update(inner.digest())
            out.append(outer.hexdigest())
        return out


def hmac_hex(key: bytes, values: pl.Series, known: Digests | None = None) -> pl.Series:
    """HMAC-SHA256 of each (normalised) id; only ids not already in `known` are hashed (in Python,
    the one per-value loop of ingestion: polars has no HMAC)."""
    known = Digests() if known is None else known
    ids = values.to_frame("id")
    with known.lock:
        looked_up = ids.join(known.table, on="id", how="left", maintain_order="left")
        new = looked_up.filter(pl.col("pid").is_null() & pl.col("id").is_not_null()).get_column("id").unique()
        if new.len():
            new_ids = new.to_list()
            added = pl.DataFrame({"id": new_ids, "pid": _Hmac(key).hex_digests(new_ids)}, schema=known.table.schema)
            known.table = pl.concat([known.table, added], rechunk=True)
            looked_up = looked_up.with_columns(
                pl.coalesce("pid", ids.join(added, on="id", how="left", maintain_order="left").get_column("pid"))
            )
    return looked_up.get_column("pid")


def pseudonymise(frame: pl.DataFrame, extract: Extract, key: bytes, known: Digests | None = None) -> pl.DataFrame:
    """Add the extract's pseudonym columns and drop every personal column.

    A single id (national_id) is hashed as it is, so payroll and social security link; a
    composite (a PICC member's names) is prefixed with the pseudonym's name. `known`: see `hmac_hex`.
    """
    additions = []
    for pid, sources in extract.pseudonymise.items():
        parts = [normalise_id(pl.col(name)) for name in sources.split(",")]
        value = parts[0] if len(parts) == 1 else pl.concat_str([pl.lit(pid), *parts], separator="|")
        additions.append(hmac_hex(key, frame.select(value).to_series(), known).alias(pid))
    personal = [c.name for c in extract.columns if c.personal]
    return frame.with_columns(additions).drop(personal)
