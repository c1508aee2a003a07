"""Vendor exports and web-API payloads: the Fitbit account export; Withings, iHealth, Google Fit
and Fitbit Web API documents."""
