"""The admin HTTP API under /admin/v1, with its own OpenAPI document."""
