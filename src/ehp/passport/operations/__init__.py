"""The passport's FHIR operations on a patient's record ($everything, $summary)."""
