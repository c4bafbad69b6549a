"""Settings of the models: frozen dataclasses that pydantic validates (types converted, unknown keys
refused), so that ``recsys-train`` reads every setting, down to a model's, with the mechanism the
server's settings use (pydantic-settings: ``--set section.field=value`` and ``RECSYS_SECTION__FIELD``)."""

from pydantic import ConfigDict
from pydantic.dataclasses import dataclass

# Decorates a settings class: @config_dataclass
config_dataclass = dataclass(frozen=True, config=ConfigDict(extra="forbid"))
