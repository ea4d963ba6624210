"""Slack glue: each module registers one kind of listener."""

from slack_bolt import App

from bot.bootstrap import Services
from handlers import actions, commands, errors, views


def register_listeners(app: App, services: Services) -> None:
    errors.register(app, services)
    commands.register(app, services)
    actions.register(app, services)
    views.register(app, services)
