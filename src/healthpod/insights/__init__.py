"""Statistics, personal baselines, trends and findings from a person's samples."""
