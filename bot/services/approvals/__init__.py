"""The approval workflow of key requests, one module per job.

filing.py files a request (break-glass `--now` and enforcement included); decisions.py decides it exactly
once (approve, deny, cancel, expire); execution.py runs an approved request and settles an outcome left
unknown; delivery.py is the interface of secret delivery, implemented by reveal.py (Reveal once in Slack)
and secrets_manager.py (AWS Secrets Manager), one of them picked in bot/bootstrap/factories.py; reminders.py
reminds, escalates and nudges approvers; recovery.py finishes what a crash or an outage left behind;
slack_sync.py keeps a request's Slack messages up to date.
"""
