"""`python -m benchmarks.reliability`: faults, hostile input, fuzzing, a soak and security checks, as one table."""
