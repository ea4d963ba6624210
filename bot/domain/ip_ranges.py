"""AWS's published address ranges (`ip-ranges.json`) and which of them holds an address. Pure.

AWS publishes every public range it uses at https://ip-ranges.amazonaws.com/ip-ranges.json (AWS General
Reference, "AWS IP address ranges"): `prefixes` (IPv4, `ip_prefix`) and `ipv6_prefixes` (`ipv6_prefix`), each with
its `region` and `service`. A range is listed once per service that uses it, and every range is also listed
under `AMAZON`; `EC2` covers instances and the compute that runs on them (Lambda and Fargate tasks reach AWS
from EC2 addresses), `CODEBUILD` the build hosts. Fetching the file is the AWS adapter's job
(bot/aws/ip_ranges.py); this module only reads it.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

AMAZON = "AMAZON"
EC2 = "EC2"
CODEBUILD = "CODEBUILD"


class RangesError(ValueError):
    """The document is not shaped as ip-ranges.json is."""


@dataclass(frozen=True)
class Hit:
    """Where an address sits in AWS's ranges: the region and the services that use its range."""

    region: str
    services: frozenset[str]


@dataclass(frozen=True)
class AwsRanges:
    """The ranges by prefix length, for a lookup of one dictionary probe per length."""

    created: str  # the file's createDate, e.g. 2026-12-01-10-13-17
    sync_token: str
    _v4: Mapping[int, Mapping[int, Hit]] = field(repr=False)
    _v6: Mapping[int, Mapping[int, Hit]] = field(repr=False)

    @property
    def size(self) -> int:
        return sum(len(t) for t in self._v4.values()) + sum(len(t) for t in self._v6.values())

    def find(self, address: str) -> Hit | None:
        """The most specific range holding `address`; None outside AWS, or when `address` is no IP address
        (CloudTrail writes a service's name, e.g. `lambda.amazonaws.com` or `AWS Internal`, for calls AWS made)."""
        try:
            ip = ipaddress.ip_address(address.strip())
        except ValueError:
            return None
        tables, bits = (self._v4, 32) if ip.version == 4 else (self._v6, 128)
        value = int(ip)
        for length in sorted(tables, reverse=True):
            hit = tables[length].get(value >> (bits - length) << (bits - length))
            if hit is not None:
                return hit
        return None


def parse_ranges(document: Mapping[str, Any]) -> AwsRanges:
    """ip-ranges.json, parsed. RangesError when it is not that file."""
    prefixes, v6 = document.get("prefixes"), document.get("ipv6_prefixes", [])
    if not isinstance(prefixes, list) or not isinstance(v6, list) or not prefixes:
        raise RangesError("no `prefixes` list: not AWS's ip-ranges.json")
    found: dict[tuple[int, int, int], tuple[str, set[str]]] = {}
    for entry, key in [(p, "ip_prefix") for p in prefixes] + [(p, "ipv6_prefix") for p in v6]:
        if not isinstance(entry, Mapping):
            raise RangesError("a prefix entry is not an object")
        try:
            network = ipaddress.ip_network(str(entry[key]), strict=False)
        except (KeyError, ValueError) as e:
            raise RangesError(f"a prefix entry has no valid `{key}`: {e}") from None
        slot = (network.version, network.prefixlen, int(network.network_address))
        region, services = found.setdefault(slot, (str(entry.get("region") or "GLOBAL"), set()))
        services.add(str(entry.get("service") or AMAZON))
    v4: dict[int, dict[int, Hit]] = {}
    v6_tables: dict[int, dict[int, Hit]] = {}
    for (version, length, start), (region, services) in found.items():
        (v4 if version == 4 else v6_tables).setdefault(length, {})[start] = Hit(region, frozenset(services))
    return AwsRanges(str(document.get("createDate") or ""), str(document.get("syncToken") or ""), v4, v6_tables)
