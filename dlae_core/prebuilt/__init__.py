"""The prebuilt model catalog (``dlae prebuilt``): the original's prebuilt models as ready configs for any
input shape and class count. See :mod:`.catalog` (entries, generation), :mod:`.settings` (the config
around a layer list), :mod:`.encoders` and :mod:`.plain` (the layer lists)."""

from dlae_core.prebuilt.catalog import ENTRIES, Entry, Generated, PrebuiltError, generate, get_entry, minimum_size
from dlae_core.prebuilt.settings import DATA_FILES, build_config, config_text, key_settings

__all__ = ["DATA_FILES", "ENTRIES", "Entry", "Generated", "PrebuiltError", "build_config", "config_text",
           "generate", "get_entry", "key_settings", "minimum_size"]
