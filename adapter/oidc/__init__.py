"""OpenID Connect relying party: discovery, keys, the code flow and ID token validation."""
