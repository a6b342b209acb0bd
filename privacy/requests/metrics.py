"""Request metrics computed when Prometheus scrapes: open and overdue requests."""

from __future__ import annotations

from collections.abc import Iterator

from prometheus_client.core import GaugeMetricFamily
from sqlalchemy import func
from sqlalchemy.exc import SQLAlchemyError
from sqlmodel import col, select

from privacy.db import new_session, utcnow
from privacy.requests.models import OPEN_STATUSES, DataSubjectRequest
from privacy.requests.service import overdue_clause
from privacy.runtime import Runtime


def collect(rt: Runtime | None) -> Iterator[GaugeMetricFamily]:
    if rt is None:
        return
    try:
        with new_session(rt.engine) as session:
            overdue = session.exec(
                select(func.count()).select_from(DataSubjectRequest).where(overdue_clause(utcnow()))
            ).one()
            open_ = session.exec(
                select(DataSubjectRequest.type, func.count())
                .where(col(DataSubjectRequest.status).in_(OPEN_STATUSES))
                .group_by(DataSubjectRequest.type)
            ).all()
    except SQLAlchemyError:
        return  # the database being down shows in /readyz; the scrape still answers
    yield GaugeMetricFamily(
        "privacy_dsr_overdue", "Open data-subject requests past their deadline.", value=overdue
    )
    by_type = GaugeMetricFamily(
        "privacy_dsr_open", "Open data-subject requests by type.", labels=["type"]
    )
    for type_, n in open_:
        by_type.add_metric([type_], n)
    yield by_type
