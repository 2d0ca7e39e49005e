"""A gateway with credentials and boto3 clients signed for it, for modules that share one."""

from __future__ import annotations

from pathlib import Path

from tests.conftest import Gateway

AK, SK = "AKIDFEATURES", "features-secret-never-logged"


def start(root: Path) -> Gateway:
    return Gateway(root / "data", env={"S3GW_ACCESS_KEY": AK, "S3GW_SECRET_KEY": SK})


def boto3_client(url: str, **config):
    import boto3
    from botocore.config import Config

    return boto3.client("s3", endpoint_url=url, region_name="us-east-1", aws_access_key_id=AK,
                        aws_secret_access_key=SK,
                        config=Config(s3={"addressing_style": "path"}, retries={"max_attempts": 1},
                                      signature_version="s3v4", **config))
