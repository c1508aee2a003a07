"""Routes and tracks: GPX 1.0/1.1 and TCX files as workouts, and the GPX routes of Apple exports."""
