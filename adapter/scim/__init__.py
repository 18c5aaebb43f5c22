"""SCIM 2.0 (RFC 7643/7644) as the connection's IdP speaks it: the resource models, the
tolerances Okta and Entra ID need, filters and the discovery documents. Free of storage and
HTTP; `adapter.services.scim_directory` keeps the resources, `adapter.web.scim` serves them.
"""
