"""Adapters to the external systems: kintone, GMO Sign, G-Staff.

Every system has an ``interface`` (what the flows may call), a ``live`` HTTP client
(requests + tenacity) and an in-memory ``fake`` with the same behaviour and errors.
"""
