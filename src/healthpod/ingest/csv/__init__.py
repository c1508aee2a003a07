"""CSV files from scales, cuffs and apps, read through mapping profiles (TOML)."""
