"""The SMART on FHIR authorization server: authorize, token, scopes, clients, discovery."""
