"""The console: server-rendered pages for operating one store at a time, on the admin API's
service layer (the same validation, scopes and audit)."""
