"""Who signs in and who a delivery is about: e-ID through OpenID Connect, keyed identifiers."""
