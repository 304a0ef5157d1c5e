"""Personal data and secrets the tests seed, so the log scan (tests/log_capture.py) can look for them.

Test data that carries a person's name, phone number or e-mail address takes it from here (or from
kgbridge/samples.py, which the scan reads too). Every string constant named ``*TOKEN*``,
``*SECRET*``, ``*PASSWORD*`` or ``*API_KEY*`` in a loaded test module counts as a secret without
being listed, and so does every such entry of a dict constant (``LIVE_ENV``'s GMO Sign secret key
and webhook token, say).
"""

from __future__ import annotations

# Invented people and companies for the fault, bad-input and security tests.
PERSON_NAME = "山田 花子"
PERSON_NAME_LATIN = "Hanako Yamada"
PERSON_PHONE = "090-1234-5678"
PERSON_EMAIL = "hanako.yamada@example.co.jp"
SUPERVISOR_NAME = "鈴木 次郎"
COMPANY_NAME = "株式会社やまだ精密工業"
COMPANY_PHONE = "045-987-6543"

REP_EMAIL = "ichiro.sato@example.co.jp"  # the sales rep's address, GMO Sign's approver

PERSONAL_DATA = [PERSON_NAME, PERSON_NAME_LATIN, PERSON_PHONE, PERSON_EMAIL, SUPERVISOR_NAME, COMPANY_NAME,
                 COMPANY_PHONE, REP_EMAIL]

# kintone API tokens for the loopback kintone server (tests/kintone_server.py).
CLIENTS_API_TOKEN = "clientsApiTokenForLoopbackKintone0001"
ORDERS_API_TOKEN = "ordersApiTokenForLoopbackKintone00002"
CONTRACTS_API_TOKEN = "contractsApiTokenForLoopbackKintone3"
VISITS_API_TOKEN = "visitsApiTokenForLoopbackKintone000004"  # orders look for the client's visit (seed A-3)
INQUIRIES_API_TOKEN = "inquiriesApiTokenForLoopbackKintone05"
FOLLOW_UPS_API_TOKEN = "followUpsApiTokenForLoopbackKintone7"  # the contracts' follow-up schedules
API_TOKENS = {"clients": CLIENTS_API_TOKEN, "orders": ORDERS_API_TOKEN, "contracts": CONTRACTS_API_TOKEN,
              "visits": VISITS_API_TOKEN, "inquiries": INQUIRIES_API_TOKEN, "follow_ups": FOLLOW_UPS_API_TOKEN}

# GMO Sign credentials for the loopback GMO Sign server (tests/gmosign_server.py) and its callbacks.
GMOSIGN_CUSTOMER_ID = "kgbridge-test-customer"
GMOSIGN_SECRET_KEY = "gmosignSecretKeyForLoopbackServer0001"
GMOSIGN_WEBHOOK_TOKEN = "gmosignWebhookTokenForTests000000001"
