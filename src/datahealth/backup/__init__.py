"""Backups as the FY2024 survey asks of hospitals: several generations, one of them offline, verified.

One generation is a directory ``<UTC timestamp>_<kind>_r<revision>[_<label>]`` holding

* the dump: ``database.sqlite3.gz`` (a consistent SQLite copy taken with the backup API, gzip) or
  ``database.pgdump`` (``pg_dump -Fc`` in the same snapshot the manifest was computed in);
* ``manifest.json``: when, which database and schema revision, tool versions, per-table row counts and
  content hashes (:mod:`datahealth.backup.contenthash`) and the SHA-256 of the dump;
* ``SHA256SUMS``: the dump's and the manifest's SHA-256 in ``sha256sum -c`` format.

Entry points: :func:`snapshot.create_backup`, :func:`verify.verify_generation`,
:func:`restore.restore_generation`; ``datahealth backup …`` and ``datahealth restore`` are the shell
(:mod:`datahealth.backup.cli`).
"""

from datahealth.backup.common import BackupError

__all__ = ["BackupError"]
