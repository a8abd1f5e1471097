"""`python -m bench pages`: server time of every caseworker page on the demo data (target ≤ 300 ms each).

Requests go through Django's full handler in-process (middleware, gates, decryption through the real key
agent, templates), so the time measured is the server's, without a network or a browser.
"""

from __future__ import annotations

import argparse
import time
from typing import Any

from bench.people_common import environment
from bench.util import percentile

TARGET_MS = 300.0


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench pages")
    parser.add_argument("--persons", type=int, default=2000, help="demo persons to load")
    parser.add_argument("--repeat", type=int, default=5)
    parser.add_argument("--database-url", default=None, help="run on PostgreSQL (a server URL)")
    args = parser.parse_args(argv)
    with environment(args.database_url):
        return _run(args.persons, args.repeat)


def _pages(user: Any) -> list[tuple[str, str, dict[str, str] | None]]:
    from kartoteka.accounts import access
    from kartoteka.registry.models import Facility

    persons = access.person_list_for_user(user)
    person = persons.filter(recruitments__isnull=False, promises__isnull=False).order_by("id").first()
    any_person = persons.order_by("id").first()
    incident = access.incident_list_for_user(user).order_by("id").first()
    facility = Facility.objects.filter(confidence="synthetic").order_by("key").first()
    case = access.case_list_for_user(user).order_by("id").first()
    pages: list[tuple[str, str, dict[str, str] | None]] = [
        ("home", "/", None),
        ("person list", "/people/", None),
        ("person list, filtered", "/people/?status=killed", None),
        ("person search (POST)", "/people/search/", {"q": "Ivanov Sergei"}),
        ("incident list", "/casework/incidents/", None),
        ("incident list, filtered", "/casework/incidents/?verification=corroborated", None),
        ("my cases", "/casework/cases/", None),
        ("sources", "/casework/sources/", None),
        ("facility list", "/facilities/", None),
    ]
    for label, obj, url in (
        ("person page (full file)", person, "/people/{}/"),
        ("person page", any_person, "/people/{}/"),
        ("incident page", incident, "/casework/incidents/{}/"),
        ("facility page", facility, "/facilities/{}/"),
        ("case page", case, "/casework/cases/{}/"),
    ):
        if obj is not None:
            pages.append((label, url.format(obj.pk), None))
    return pages


def _run(persons: int, repeat: int) -> int:
    from django.test import Client

    from kartoteka.accounts.models import User
    from kartoteka.accounts.testing import login_verified
    from kartoteka.demo.generate import demo_load

    t0 = time.perf_counter()
    demo_load(persons=persons, seed=0)
    print(f"demo data: {persons} persons loaded in {time.perf_counter() - t0:.1f} s")
    client = Client(HTTP_HOST="127.0.0.1")
    user = User.objects.get(username="demo-caseworker")
    login_verified(client, user)
    worst = 0.0
    print(f"server time per page over {repeat} requests (target p95 ≤ {TARGET_MS:.0f} ms)")
    for label, url, form in _pages(user):
        samples = []
        for _ in range(repeat + 1):
            start = time.perf_counter()
            response = client.post(url, form) if form else client.get(url)
            samples.append((time.perf_counter() - start) * 1000)
            if response.status_code != 200:
                raise SystemExit(f"{label}: HTTP {response.status_code} at {url}")
        samples = samples[1:]  # the first request warms caches
        p95 = percentile(samples, 95)
        worst = max(worst, p95)
        verdict = "ok" if p95 <= TARGET_MS else "OVER"
        print(f"  {label:<28} p50 {percentile(samples, 50):7.1f} ms   p95 {p95:7.1f} ms   {verdict}")
    print(f"slowest page p95: {worst:.1f} ms ({worst / TARGET_MS:.2f}× the target)")
    return 0
