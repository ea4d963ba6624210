"""What a scan's Security Hub export did, in lines for the digest and the CLI."""

from __future__ import annotations

from bot.domain.asff import HubExport
from bot.slack.messages.common import escape, plural

MAX_REFUSED_SHOWN = 3


def export_lines(export: HubExport) -> list[str]:
    if not export.accounts:
        return []
    sent = [a for a in export.accounts if not a.error]
    imported = sum(a.imported for a in sent)
    archived = sum(a.archived for a in sent)
    lines = [
        f"Security Hub: {plural(imported, 'finding')} imported or updated, {archived} archived as resolved, "
        f"in {plural(len(sent), 'account')} ({plural(export.calls, 'call')})."
    ]
    for a in export.accounts:
        if a.error:
            lines.append(
                f"Security Hub of `{escape(a.account)}` not updated: {escape(a.error)} (tried again next scan)"
            )
        elif a.refused:
            shown = "; ".join(escape(r) for r in a.refused[:MAX_REFUSED_SHOWN])
            more = f" and {len(a.refused) - MAX_REFUSED_SHOWN} more" if len(a.refused) > MAX_REFUSED_SHOWN else ""
            lines.append(
                f"Security Hub of `{escape(a.account)}` refused {plural(len(a.refused), 'finding')}: {shown}{more}"
                " (sent again next scan)"
            )
    return lines
