"""FHIR Bulk Data: ``$export`` (system, Patient, Group) as background jobs that survive restarts."""
