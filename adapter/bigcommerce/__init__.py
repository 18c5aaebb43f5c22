"""BigCommerce: the REST transport every API client sends through (`transport`), the
Customers v3 API client (`customers`) and the storefront GraphQL login (`storefront`)."""
