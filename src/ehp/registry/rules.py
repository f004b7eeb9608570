"""The registries' business rules on writes, as the server registers them (``create_app``)."""

from __future__ import annotations

from ehp.api.rules import WriteRule
from ehp.registry.attachment import AttachmentRule
from ehp.registry.iin_rule import IinRule
from ehp.registry.population import PopulationGroupRule
from ehp.registry.settings import registry_settings


def registry_rules() -> list[WriteRule]:
    """The rules of this process's registry settings (read from the environment once)."""
    settings = registry_settings()
    return [IinRule(settings.iin_system), AttachmentRule(), PopulationGroupRule(settings.attachment)]
