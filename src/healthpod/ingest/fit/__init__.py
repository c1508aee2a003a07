"""Garmin/ANT FIT files: activities, daily monitoring, weight scales and HRV."""
