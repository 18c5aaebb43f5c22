"""The framework-agnostic core: protocol checks, identity resolution, token minting.

Nothing here imports a web framework, a database library or an HTTP client.
"""
