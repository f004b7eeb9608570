"""One module per FHIR interaction; each handler takes a :class:`~ehp.api.call.Call`."""
