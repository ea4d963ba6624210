"""Slack glue: each module registers one kind of listener."""

from slack_bolt import App

from bot.bootstrap import Services
from handlers import commands, errors


def register_listeners(app: App, services: Services) -> None:
    errors.register(app, services)
    commands.register(app, services)
