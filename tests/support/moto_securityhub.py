"""BatchUpdateFindings for moto's Security Hub (moto 5.2 answers it "Not yet implemented"), as AWS documents it:
up to 100 finding identifiers (Id and ProductArn), the fields a customer may set (Workflow, Note here), and each
identifier either processed or unprocessed with an error code. Installed into moto's own URL table and response
class, so the in-process mock and moto's server both serve it."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from typing import Any

from moto.securityhub import urls
from moto.securityhub.responses import SecurityHubResponse

PATH = "{0}/findings/batchupdate$"


def _batch_update_findings(self: SecurityHubResponse) -> str:
    body = json.loads(self.body or "{}")
    workflow, note = body.get("Workflow"), body.get("Note")
    processed: list[dict[str, Any]] = []
    unprocessed: list[dict[str, Any]] = []
    by_key = {(f.data.get("Id"), f.data.get("ProductArn")): f for f in self.securityhub_backend.findings}
    for ident in body.get("FindingIdentifiers", []):
        finding = by_key.get((ident.get("Id"), ident.get("ProductArn")))
        if finding is None:
            unprocessed.append(
                {"FindingIdentifier": ident, "ErrorCode": "FindingNotFound", "ErrorMessage": "Finding Not Found"}
            )
            continue
        if workflow:
            finding.data["Workflow"] = dict(workflow)
        if note:
            finding.data["Note"] = {**note, "UpdatedAt": datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%S.000Z")}
        processed.append(ident)
    return json.dumps({"ProcessedFindings": processed, "UnprocessedFindings": unprocessed})


def install() -> None:
    """Idempotent: add the route and the handler once."""
    urls.url_paths.setdefault(PATH, SecurityHubResponse.dispatch)
    if not hasattr(SecurityHubResponse, "batch_update_findings"):
        SecurityHubResponse.batch_update_findings = _batch_update_findings  # type: ignore[attr-defined]
