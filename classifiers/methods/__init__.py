"""The methods that decide a label: alias, kNN, trained heads, zero-shot."""
