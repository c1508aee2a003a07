"""The FHIR R4 API: search, read, capability, Bulk Data export, SMART access."""
