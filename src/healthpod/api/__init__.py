"""The JSON API (everything that is not FHIR), described in OpenAPI at /openapi.json."""
