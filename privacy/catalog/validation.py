"""Validate and normalise record values against a collection's typed fields.

Messages name the field and the rule, never the value (it may be personal data).
"""

from __future__ import annotations

import json
import math
import re
from datetime import date
from typing import Any

import phonenumbers
from email_validator import EmailNotValidError, validate_email

from privacy.errors import InvalidData, PayloadTooLarge

_ISO_DATE = re.compile(r"^\d{4}-\d{2}-\d{2}$")


def _email(v: Any) -> str:
    if not isinstance(v, str):
        raise ValueError("must be a string holding an e-mail address")
    try:
        return validate_email(v, check_deliverability=False).normalized
    except EmailNotValidError:
        raise ValueError("is not a valid e-mail address") from None


def _phone(v: Any) -> str:
    if not isinstance(v, str) or not v.startswith("+"):
        raise ValueError("must be a phone number in E.164 form, e.g. +4915112345678")
    try:
        num = phonenumbers.parse(v, None)
    except phonenumbers.NumberParseException:
        raise ValueError("is not a valid phone number") from None
    if not phonenumbers.is_valid_number(num):
        raise ValueError("is not a valid phone number")
    return phonenumbers.format_number(num, phonenumbers.PhoneNumberFormat.E164)


def _date(v: Any) -> str:
    if not isinstance(v, str) or not _ISO_DATE.match(v):
        raise ValueError("must be an ISO 8601 date (YYYY-MM-DD)")
    try:
        return date.fromisoformat(v).isoformat()
    except ValueError:
        raise ValueError("is not a real calendar date") from None


def _number(v: Any) -> int | float:
    if isinstance(v, bool) or not isinstance(v, int | float):
        raise ValueError("must be a number")
    if isinstance(v, float) and not math.isfinite(v):
        raise ValueError("must be a finite number")
    return v


def _boolean(v: Any) -> bool:
    if not isinstance(v, bool):
        raise ValueError("must be true or false")
    return v


def _string(v: Any) -> str:
    if not isinstance(v, str):
        raise ValueError("must be a string")
    if "\x00" in v:
        raise ValueError("must not contain NUL characters")
    return v


def _json(v: Any) -> Any:
    return v


_CHECKS = {
    "string": _string,
    "email": _email,
    "phone": _phone,
    "date": _date,
    "number": _number,
    "boolean": _boolean,
    "json": _json,
}


def encode_value(value: Any) -> bytes:
    return json.dumps(value, ensure_ascii=False, separators=(",", ":")).encode()


def validate_record(
    fields: list[dict[str, Any]],
    data: Any,
    *,
    partial: bool,
    max_value_bytes: int,
    max_record_bytes: int,
    where: str = "data",
) -> dict[str, bytes]:
    """Check `data` against the collection; return field -> encoded value.

    In a partial update (`partial=True`), absent fields are left alone and `null` removes an
    optional field (encoded as b"" so the caller knows to drop it).
    """
    if not isinstance(data, dict):
        raise InvalidData(f"{where}: must be an object of field values")
    specs = {f["name"]: f for f in fields}
    errors: list[str] = []
    out: dict[str, bytes] = {}
    for name in data:
        if name not in specs:
            errors.append(f"{where}.{name}: not a field of this collection")
    if not partial:
        for name, spec in specs.items():
            if spec.get("required") and data.get(name) is None:
                errors.append(f"{where}.{name}: is required")
    for name, value in data.items():
        spec = specs.get(name)
        if spec is None:
            continue
        if value is None:
            if spec.get("required"):
                if partial:
                    errors.append(f"{where}.{name}: is required and cannot be removed")
                continue
            if partial:
                out[name] = b""
            continue
        try:
            encoded = encode_value(_CHECKS[spec["type"]](value))
        except ValueError as exc:
            errors.append(f"{where}.{name}: {exc}")
            continue
        if len(encoded) > max_value_bytes:
            errors.append(f"{where}.{name}: larger than {max_value_bytes} bytes")
            continue
        out[name] = encoded
    if errors:
        raise InvalidData("; ".join(errors[:20]), errors=[{"message": e} for e in errors[:100]])
    if sum(len(v) for v in out.values()) > max_record_bytes:
        raise PayloadTooLarge(f"{where}: the record is larger than {max_record_bytes} bytes")
    return out
