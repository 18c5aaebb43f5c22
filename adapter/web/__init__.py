"""The HTTP edge: routes, cookies, pages. Turns AdapterErrors into answers."""
