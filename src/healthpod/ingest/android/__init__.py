"""Android sources: Health Connect's exported database (and, later, Samsung Health, Google Fit)."""
