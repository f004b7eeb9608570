"""EHP: a national electronic health passport platform speaking HL7 FHIR R4."""

__version__ = "0.1.0"
