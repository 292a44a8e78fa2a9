from __future__ import annotations

import pytest

from phidesk.conftest import Tenant
from phidesk.core.errors import TenantContextMissing
from phidesk.core.tenant_context import tenant_context
from phidesk.tickets.models import Queue, Ticket


def test_scoped_query_without_tenant_raises(hospital: Tenant):
    with pytest.raises(TenantContextMissing):
        list(Ticket.objects.all())


def test_scoped_manager_returns_only_current_tenant(hospital: Tenant, other_hospital: Tenant):
    hospital.file()
    other_hospital.file()
    with tenant_context(hospital.org.pk):
        assert {t.organization_id for t in Ticket.objects.all()} == {hospital.org.pk}
        assert Queue.objects.count() == 2
    assert Ticket.unscoped.count() == 2


def test_saving_a_row_into_another_tenant_is_refused(hospital: Tenant, other_hospital: Tenant):
    with tenant_context(hospital.org.pk), pytest.raises(TenantContextMissing):
        Queue(organization=other_hospital.org, slug="sneaky", name="Sneaky").save()
