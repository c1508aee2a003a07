"""FHIR R4 JSON from healthcare: Bundles, single resources and Bulk Data NDJSON."""
