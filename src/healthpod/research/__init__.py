"""Research on the person's terms: studies people join and leave (GA4GH DUO coded)."""
