"""Locust users for the API load benchmark (run by bench/api_load.py, not by hand).

Environment: ``BENCH_TOKEN`` (a write-scoped personal access token) and ``BENCH_PROBES`` (a JSON
file of customer ids, search terms and list filters). Tags select the phase: ``detail`` runs
only the customer detail; no tag filter runs the mixed workload.
"""

from __future__ import annotations

import json
import os
import random
from typing import Any
from urllib.parse import quote

from locust import FastHttpUser, constant, tag, task

PROBES: dict[str, Any] = json.loads(open(os.environ["BENCH_PROBES"], encoding="utf-8").read())  # noqa: SIM115
TOKEN = os.environ["BENCH_TOKEN"]
API = "/api/v1/customers"
BULK_RECORDS = 20
BULK_KEYS = 500  # a fixed pool: the dataset grows by at most this many customers, once
FAMILY = ["김", "이", "박", "최", "정", "강"]
GIVEN = ["민준", "서연", "지호", "하은", "도윤", "서윤"]
REGIONS = ["seoul", "busan", "gyeonggi", "incheon"]


class ApiClient(FastHttpUser):
    """A client program calling the API as fast as it gets answers (closed loop)."""

    wait_time = constant(0)

    def on_start(self) -> None:
        self.rng = random.Random()
        self.headers = {"Authorization": f"Bearer {TOKEN}"}

    def _get(self, path: str, name: str) -> None:
        self.client.get(path, headers=self.headers, name=name)

    @tag("detail", "mixed")
    @task(10)
    def detail(self) -> None:
        self._get(f"{API}/{self.rng.choice(PROBES['customer_ids'])}", "GET /customers/{id}")

    @tag("mixed")
    @task(3)
    def filtered_list(self) -> None:
        self._get(f"{API}?{self.rng.choice(PROBES['filters'])}", "GET /customers?<filters>")

    @tag("mixed")
    @task(2)
    def search_name(self) -> None:
        q = quote(self.rng.choice(PROBES["names"]))
        self._get(f"{API}?q={q}&limit=50", "GET /customers?q=<name fragment>")

    @tag("mixed")
    @task(2)
    def search_email(self) -> None:
        q = quote(self.rng.choice(PROBES["email_prefixes"]))
        self._get(f"{API}?q={q}&limit=50", "GET /customers?q=<e-mail prefix>")

    @tag("mixed")
    @task(2)
    def search_phone(self) -> None:
        q = self.rng.choice(PROBES["last4"])
        self._get(f"{API}?q={q}&limit=50", "GET /customers?q=<phone last 4>")

    @tag("mixed")
    @task(1)
    def bulk_upsert(self) -> None:
        records = []
        for _ in range(BULK_RECORDS):
            key = self.rng.randrange(BULK_KEYS)
            records.append(
                {
                    "source": "bench",
                    "external_id": f"BENCH-{key:06d}",
                    "family_name": FAMILY[key % len(FAMILY)],
                    "given_name": GIVEN[key % len(GIVEN)],
                    "region": self.rng.choice(REGIONS),
                    "contact_points": [
                        {"kind": "mobile", "value": f"010-{5000 + key % 4000:04d}-{key:04d}"}
                    ],
                }
            )
        self.client.post(
            f"{API}/bulk",
            json={"records": records},
            headers=self.headers,
            name=f"POST /customers/bulk ({BULK_RECORDS} records)",
        )
