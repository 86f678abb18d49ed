"""Errors: a refusal from a worker (its reply's Status) or no answer in
time. Every error carries the gRPC code (`code`, its name `code_name`), the
message and the offending request field (`field`, "" when none).

There is one subclass per status code, named after it in CamelCase
(INVALID_ARGUMENT -> InvalidArgument, PERMISSION_DENIED ->
PermissionDenied, ...), made from the StatusCode enum of common.proto so
that the list cannot drift from the contract."""
from rapport.v1 import common_pb2


class RapportError(Exception):
    """code: a common_pb2.StatusCode value; message; field."""

    code = common_pb2.UNKNOWN

    def __init__(self, message="", field="", code=None, request_id=b""):
        super().__init__(message)
        if code is not None:
            self.code = code
        self.message, self.field, self.request_id = message, field, request_id

    @property
    def code_name(self):
        return common_pb2.StatusCode.Name(self.code)

    def __str__(self):
        where = " (field %s)" % self.field if self.field else ""
        return "%s: %s%s" % (self.code_name, self.message or self.code_name, where)


BY_CODE = {}
for _name, _code in common_pb2.StatusCode.items():
    if _code != common_pb2.OK:
        _cls = "".join(part.capitalize() for part in _name.split("_"))
        BY_CODE[_code] = type(_cls, (RapportError,), {"code": _code, "__module__": __name__})
        globals()[_cls] = BY_CODE[_code]


def from_status(status, request_id=b""):
    """The exception for a reply's Status (code != OK)."""
    cls = BY_CODE.get(status.code, RapportError)
    return cls(status.message, status.field, code=status.code, request_id=request_id)


def error(code, message, field="", request_id=b""):
    """The exception for `code` (a StatusCode value) made here, not by a worker."""
    return BY_CODE[code](message, field, request_id=request_id)


__all__ = ["RapportError", "from_status", "error"] + [c.__name__ for c in BY_CODE.values()]
