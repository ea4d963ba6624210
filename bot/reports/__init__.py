"""Documents for people outside Slack: the posture charts (matplotlib, imported only when a chart is drawn) and the
self-contained HTML report."""
