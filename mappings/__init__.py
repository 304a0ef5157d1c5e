"""Domain layer: kintone app mappings (field codes, statuses, actions) and domain models.

No I/O here except reading the TOML mapping files.
"""

from mappings.app import AppMapping, FieldSpec, MappingError, Mappings, load_mappings  # noqa: F401
from mappings.fields import FileRef, User  # noqa: F401
