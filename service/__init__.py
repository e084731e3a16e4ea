"""The outside of autocode: CLI, HTTP API, batch jobs and storage. Holds no ML logic."""
