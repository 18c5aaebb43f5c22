"""sso-adapter: sign enterprise identities into BigCommerce storefronts."""

__version__ = "0.1.0"
