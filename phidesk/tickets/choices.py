"""Ticket vocabularies, importable by adapters (forms, filters) without touching models."""

from __future__ import annotations

from django.db import models


class Status(models.TextChoices):
    NEW = "new", "New"
    TRIAGED = "triaged", "Triaged"
    ASSIGNED = "assigned", "Assigned"
    IN_PROGRESS = "in_progress", "In progress"
    PENDING = "pending", "Pending"
    RESOLVED = "resolved", "Resolved"
    CLOSED = "closed", "Closed"


class Priority(models.TextChoices):
    P1 = "P1", "P1 - Critical"
    P2 = "P2", "P2 - High"
    P3 = "P3", "P3 - Normal"
    P4 = "P4", "P4 - Low"


class Category(models.TextChoices):
    EHR_ACCESS = "ehr_access", "EHR access"
    EHR_ISSUE = "ehr_issue", "EHR problem"
    HARDWARE = "hardware", "Hardware and devices"
    PRINTING = "printing", "Printing and labels"
    NETWORK = "network", "Network and Wi-Fi"
    ACCOUNT = "account", "Account and password"
    SOFTWARE = "software", "Other software"
    OTHER = "other", "Something else"
