"""Use cases that tie the core to the database and to the IdP and BigCommerce clients."""
