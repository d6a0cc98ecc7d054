"""From a folder of radiographs (DICOM, nested, extensionless) and a grades table to a checked manifest.

``import_cohort(folder=..., grades=..., out=..., columns={...})`` is the one call behind
``sijscan manifest``; :mod:`.splits` also gives ``train-classifier`` its patient-level hold-out.
"""
from __future__ import annotations

from sijscan.io.cohort.build import CohortImport, import_cohort
from sijscan.io.cohort.readers import RULES as READER_RULES
from sijscan.io.cohort.table import JOIN_KEYS, CohortError, parse_column_flags, read_mapping_file

__all__ = ["CohortError", "CohortImport", "JOIN_KEYS", "READER_RULES", "import_cohort", "parse_column_flags",
           "read_mapping_file"]
