"""The services of keys on their way to roles: workloads (`replace`, the weekly sample) and retirements."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta

from bot.aws.ip_ranges import IpRangesSource
from bot.bootstrap.factories import Adapters, KeyServices
from bot.clock import Pacer
from bot.services.retirements import RetirementService
from bot.services.usage import AccessAdvisorService, lookup_pacer
from bot.services.workloads import WorkloadService, replacement_role
from bot.store.retirements import Retirements
from bot.store.workloads import KeyWorkloads


@dataclass(frozen=True)
class Usage:
    """What `activity`, `access` and `replace` share: CloudTrail's pace (together they stay under 2 LookupEvents a
    second per account and region) and Access Advisor with its cache."""

    pacer: Pacer
    advisor: AccessAdvisorService


def usage(a: Adapters, k: KeyServices) -> Usage:
    advisor = AccessAdvisorService(
        a.aws, k.inventory, k.permissions, a.clock, cache_hours=a.settings.access_cache_hours
    )
    return Usage(lookup_pacer(), advisor)


def workloads(a: Adapters, k: KeyServices, shared: Usage) -> WorkloadService:
    s = a.settings
    return WorkloadService(
        aws=a.aws,
        inventory=k.inventory,
        index=k.index,
        viewers=k.permissions,
        notifier=a.notifier,
        clock=a.clock,
        store=KeyWorkloads(a.db, a.clock),
        ranges=IpRangesSource(a.clock, s.ip_ranges_url),
        pacer=shared.pacer,
        regions=s.activity_regions,
        max_events=s.activity_max_events,
        sample_budget=s.workload_sample_lookups,
        advisor=shared.advisor.services_of,
    )


def retirements(a: Adapters, k: KeyServices) -> RetirementService:
    s = a.settings
    return RetirementService(
        clock=a.clock,
        store=Retirements(a.db, a.clock, a.audit),
        aws=a.aws,
        notifier=a.notifier,
        role_of=replacement_role,
        quiet=timedelta(hours=s.cutover_quiet_hours),
        delete_after=timedelta(days=s.rotation_delete_days),
        claim_timeout=timedelta(minutes=max(1, s.reconcile_after_minutes)),
        on_change=k.home.refresh,
        names=a.names,
    )
