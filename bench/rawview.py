"""The baseline for bench/redeem: a minimal Django view doing a redemption's two writes in raw
SQL (the guarded counter UPDATE and the Redemption INSERT), with no key lookup, no rules, no
attempt log and no rollups. Same settings, middleware and gunicorn flags as the real API; only
the view differs. Both a URLconf and a WSGI module:

    BENCH_SCHEMA=p_bench_x gunicorn bench.rawview:application
"""

from __future__ import annotations

import json
import os
import secrets

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings.local")

from django.conf import settings  # noqa: E402
from django.core.wsgi import get_wsgi_application  # noqa: E402
from django.db import connection, transaction  # noqa: E402
from django.http import HttpRequest, JsonResponse  # noqa: E402
from django.urls import path  # noqa: E402
from django.views.decorators.csrf import csrf_exempt  # noqa: E402

SCHEMA = os.environ.get("BENCH_SCHEMA", "public")
MERCHANT_ID = int(os.environ.get("BENCH_MERCHANT_ID", "0") or 0) or None


def _q(table: str) -> str:
    return f'"{SCHEMA}".{table}'


@csrf_exempt
def redeem(request: HttpRequest) -> JsonResponse:
    code = json.loads(request.body)["redeemables"][0]["id"]
    with transaction.atomic(), connection.cursor() as cursor:
        cursor.execute(
            f"UPDATE {_q('campaigns_voucher')} SET redeemed_quantity = redeemed_quantity + 1 "
            "WHERE code = %s AND (redemption_limit IS NULL OR redeemed_quantity < "
            "redemption_limit) RETURNING id, campaign_id",
            [code],
        )
        row = cursor.fetchone()
        if row is None:
            return JsonResponse({"code": 400, "key": "quantity_exceeded"}, status=400)
        public_id = "r_" + secrets.token_hex(10)
        cursor.execute(
            f"INSERT INTO {_q('redemptions_redemption')} (public_id, voucher_id, campaign_id, "
            "merchant_id, api_key_id, channel, order_amount, discount_amount, customer_ref, "
            "tracking_id, metadata, status, created_at, rollback_id, rollback_reason) VALUES "
            "(%s, %s, %s, %s, NULL, 'api', %s, 0, '', '', '{}', 'SUCCEEDED', now(), '', '')",
            [public_id, row[0], row[1], MERCHANT_ID, 0],
        )
    return JsonResponse({"redemptions": [{"id": public_id, "object": "redemption"}]})


urlpatterns = [path("v1/redemptions", redeem)]

settings.ROOT_URLCONF = __name__
application = get_wsgi_application()
