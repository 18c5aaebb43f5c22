"""The one exception hierarchy of the adapter.

    AdapterError                      code, HTTP status, a message safe to show
    ├── BadRequest              400   malformed or tampered request
    ├── NotVerified             401   an assertion or token that does not verify
    ├── NotAdmitted             403   a valid identity this store or channel does not admit
    ├── NotFound                404   unknown store or connection
    ├── TooLarge                413   a request body over the limit of its endpoint
    ├── UpstreamFailed          502   the IdP or BigCommerce failed
    ├── Unavailable             503   try again shortly (answered with Retry-After)
    │   └── DatabaseUnavailable 503   the database cannot be reached
    └── ConfigurationError      422   configuration that cannot be used (admin side)

    InternalFailure             500   a failure of our own whose message quotes no value

Each error carries `detail`, the precise reason, for the log and the audit trail only: a
shopper sees the same page whichever check failed, so an attacker learns nothing from it.
Only the web layer turns these into responses.
"""

from __future__ import annotations


class AdapterError(Exception):
    status = 500
    code = "internal_error"
    public_message = "Something went wrong on our side. Please try again later."

    def __init__(self, detail: str, *, code: str | None = None, public_message: str | None = None):
        super().__init__(detail)
        self.detail = detail
        if code is not None:
            self.code = code
        if public_message is not None:
            self.public_message = public_message


class BadRequest(AdapterError):
    status = 400
    code = "bad_request"
    public_message = "The sign-in request was malformed or has expired. Please start again."


class NotVerified(AdapterError):
    status = 401
    code = "not_verified"
    public_message = "Your sign-in could not be verified. Please start again."


class NotAdmitted(AdapterError):
    status = 403
    code = "not_admitted"
    public_message = "Your account is not allowed to sign in to this store."


class NotFound(AdapterError):
    status = 404
    code = "not_found"
    public_message = "This sign-in link is not known here."


class TooLarge(AdapterError):
    status = 413
    code = "body_too_large"
    public_message = "The request was too large. Please start again."


class UpstreamFailed(AdapterError):
    status = 502
    code = "upstream_failed"
    public_message = (
        "A service we depend on did not answer as expected. Please try again in a few minutes."
    )


class Unavailable(AdapterError):
    """Nothing is wrong with the request: the same request a little later should succeed.

    `retry_after` (seconds) goes out in the Retry-After header.
    """

    status = 503
    code = "service_unavailable"
    public_message = "The sign-in service is busy. Please try again in a few seconds."

    def __init__(
        self,
        detail: str,
        *,
        code: str | None = None,
        public_message: str | None = None,
        retry_after: int = 5,
    ):
        super().__init__(detail, code=code, public_message=public_message)
        self.retry_after = retry_after


class DatabaseUnavailable(Unavailable):
    code = "database_unavailable"
    public_message = (
        "The sign-in service is briefly unavailable. Please try again in a few seconds."
    )


class ConfigurationError(AdapterError):
    status = 422
    code = "invalid_configuration"
    public_message = "The configuration is not valid."

    def __init__(self, detail: str, *, field: str | None = None, code: str | None = None):
        # Configuration errors go to operators, who need the precise reason.
        super().__init__(detail, code=code, public_message=detail)
        self.field = field


class Conflict(AdapterError):
    status = 409
    code = "conflict"
    public_message = "The request conflicts with the current state."

    def __init__(self, detail: str, *, code: str | None = None):
        super().__init__(detail, code=code, public_message=detail)


class InternalFailure(Exception):
    """A failure of our own (answered 500) whose message names what failed (a statement, a
    step) and never quotes a value: logged and audited with that message, where any other
    unexpected exception is named by its class alone."""
