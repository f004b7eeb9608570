"""The registries' FHIR operations ($match, $merge, $attach, $detach, $attached, $coverage, $duplicates)."""
