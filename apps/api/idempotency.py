"""`Idempotency-Key` on POST writes: the first answer is stored and a retry gets it again.

How a retry can never act twice, even when it arrives while the first request still runs:
the request inserts its IdempotentRequest row with `INSERT … ON CONFLICT DO NOTHING` in the
same transaction as the write it guards, and keeps that transaction open until the answer is
stored in the row. A concurrent retry's INSERT waits on the unique index (api_key_id, key)
until the first transaction ends; then it either sees the committed row (and replays its
answer) or, if the first one failed with a server error and rolled back, inserts the row
itself and runs. The unique constraint is the backstop; there is no in-progress state.

Answers with status < 500 are stored, refusals included: retrying the same body gets the same
answer. A server error rolls everything back, so the key may be used again.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable

from django.db import connection, transaction
from django.http import HttpRequest, HttpResponse, JsonResponse

from apps.api.errors import ApiError
from apps.api.models import IdempotentRequest

HEADER = "Idempotency-Key"
MAX_KEY_LENGTH = 255


def _body_hash(request: HttpRequest) -> str:
    digest = hashlib.sha256()
    for part in (request.method or "", request.path, request.META.get("QUERY_STRING", "")):
        digest.update(part.encode() + b"\n")
    digest.update(request.body)
    return digest.hexdigest()


def _claim(api_key_id: int, key: str, request: HttpRequest, body_hash: str) -> int | None:
    """Insert our row (returns its id), or None when the key was used before."""
    with connection.cursor() as cursor:
        cursor.execute(
            f"INSERT INTO {IdempotentRequest._meta.db_table} "  # noqa: S608 - our table name
            "(api_key_id, key, method, path, body_hash, status_code, response, created_at) "
            "VALUES (%s, %s, %s, %s, %s, 0, '{}'::jsonb, now()) "
            "ON CONFLICT (api_key_id, key) DO NOTHING RETURNING id",
            [api_key_id, key, request.method, request.path[:255], body_hash],
        )
        row = cursor.fetchone()
    return row[0] if row else None


def _replay(stored: IdempotentRequest) -> HttpResponse:
    response = JsonResponse(stored.response, status=stored.status_code, safe=False)
    response["Idempotent-Replayed"] = "true"
    return response


def idempotent(request: HttpRequest, action: Callable[[], HttpResponse]) -> HttpResponse:
    """Run `action` once per (API key, Idempotency-Key); without the header, just run it."""
    key = request.headers.get(HEADER)
    if key is None:
        return action()
    if not key.strip() or len(key) > MAX_KEY_LENGTH or not key.isprintable():
        raise ApiError(
            400,
            "invalid_idempotency_key",
            f"The {HEADER} header must be 1 to {MAX_KEY_LENGTH} printable characters, "
            "e.g. a UUID you generate per operation.",
        )
    api_key_id = request.api_key.pk  # type: ignore[attr-defined]
    body_hash = _body_hash(request)
    with transaction.atomic():
        row_id = _claim(api_key_id, key, request, body_hash)
        if row_id is None:
            stored = IdempotentRequest.objects.get(api_key_id=api_key_id, key=key)
            if stored.body_hash != body_hash:
                raise ApiError(
                    409,
                    "idempotency_key_reused",
                    f"This {HEADER} was already used for a different request "
                    f"({stored.method} {stored.path} with another body). Use a new key for a "
                    "new operation, or resend the original request unchanged.",
                )
            return _replay(stored)
        try:
            response = action()
        except ApiError as exc:  # a refusal is an answer too: store it, keep the attempt log
            response = exc.response(request)
        if response.status_code >= 500:
            transaction.set_rollback(True)
            return response
        IdempotentRequest.objects.filter(pk=row_id).update(
            status_code=response.status_code, response=json.loads(response.content)
        )
    return response
