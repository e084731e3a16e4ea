"""The HTTP service: FastAPI app, its settings, auth, limits, micro-batching and routes (`autocode serve`)."""
