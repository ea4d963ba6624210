"""A boto3 client acting in another account through an assumed role (moto lands calls made with assumed credentials
in the role's account)."""

from __future__ import annotations

from typing import Any

import boto3


def client_in(account_id: str, service: str, role: str = "keywarden", session: str = "test") -> Any:
    """A `service` client acting in `account_id` as `role`."""
    creds = boto3.client("sts", region_name="us-east-1").assume_role(
        RoleArn=f"arn:aws:iam::{account_id}:role/{role}", RoleSessionName=session
    )["Credentials"]
    return boto3.client(
        service,
        region_name="us-east-1",
        aws_access_key_id=creds["AccessKeyId"],
        aws_secret_access_key=creds["SecretAccessKey"],
        aws_session_token=creds["SessionToken"],
    )
