"""Every table, imported in one place so that Alembic and tests see the whole schema."""

from sqlmodel import SQLModel

from privacy.audit.models import AuditEntry
from privacy.auth.models import App, BrowserSession, RecoveryCode, RefreshToken, RevokedToken, User
from privacy.catalog.models import CatalogVersion, Collection, Purpose
from privacy.consent.models import ConsentEvent, ConsentState, ConsentText, Objection, Restriction
from privacy.erasure.models import Erasure
from privacy.keys.models import ServiceKey
from privacy.requests.models import DataSubjectRequest, DsrExport
from privacy.retention.models import RetentionPurge
from privacy.scheduling.models import JobRun
from privacy.security.models import IpBlock
from privacy.subject_auth.models import SignInCode, SubjectSession
from privacy.subjects.models import BlindIndexEntry, Record, Subject
from privacy.webhooks.models import WebhookAttempt, WebhookDelivery, WebhookSecret

metadata = SQLModel.metadata

__all__ = [
    "App",
    "AuditEntry",
    "BlindIndexEntry",
    "BrowserSession",
    "CatalogVersion",
    "Collection",
    "ConsentEvent",
    "ConsentState",
    "ConsentText",
    "DataSubjectRequest",
    "DsrExport",
    "Erasure",
    "IpBlock",
    "JobRun",
    "Objection",
    "Purpose",
    "Record",
    "RecoveryCode",
    "RefreshToken",
    "Restriction",
    "RetentionPurge",
    "RevokedToken",
    "ServiceKey",
    "SignInCode",
    "Subject",
    "SubjectSession",
    "User",
    "WebhookAttempt",
    "WebhookDelivery",
    "WebhookSecret",
    "metadata",
]
