"""Stand-ins for the outside world, for `sso-adapter demo` and the test suite.

An OpenID provider with a test user, and a BigCommerce emulator (Customers v3 API and a
storefront that checks customer_login JWTs the way BigCommerce documents). Neither is meant
for production; both listen on loopback only.
"""
