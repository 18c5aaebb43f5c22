"""BigCommerce: the Customers v3 API client."""
