"""SAML 2.0 service provider pieces."""
