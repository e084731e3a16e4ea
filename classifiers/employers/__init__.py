"""Employer resolution: names, cues, the gazetteer, record matching and inference."""
