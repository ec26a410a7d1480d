#!/usr/bin/env python3
"""Reads back what krel pushed, with the storage services' own Python clients.

  readback.py gcs HOST BUCKET PREFIX                       (STORAGE_EMULATOR_HOST-style HOST)
  readback.py s3 ENDPOINT BUCKET PREFIX ACCESS SECRET
  readback.py s3-mkbucket ENDPOINT BUCKET ACCESS SECRET
  readback.py s3-get ENDPOINT BUCKET KEY ACCESS SECRET     (prints {"text": ...} or {})

Prints JSON: {"<key>": {"size": N, "sha256": "<hex>"}} for every object under PREFIX.
"""
import hashlib
import json
import os
import sys


def gcs(host, bucket, prefix):
    os.environ["STORAGE_EMULATOR_HOST"] = "http://" + host
    from google.auth.credentials import AnonymousCredentials
    from google.cloud import storage

    client = storage.Client(project="krel-tests", credentials=AnonymousCredentials())
    out = {}
    for blob in client.list_blobs(bucket, prefix=prefix):
        data = blob.download_as_bytes()
        out[blob.name] = {"size": len(data), "sha256": hashlib.sha256(data).hexdigest()}
    return out


def s3_client(endpoint, access, secret):
    import boto3
    from botocore.config import Config

    return boto3.client("s3", endpoint_url=endpoint, aws_access_key_id=access,
                        aws_secret_access_key=secret, region_name="us-east-1",
                        config=Config(s3={"addressing_style": "path"}))


def s3(endpoint, bucket, prefix, access, secret):
    client = s3_client(endpoint, access, secret)
    out = {}
    for page in client.get_paginator("list_objects_v2").paginate(Bucket=bucket, Prefix=prefix):
        for item in page.get("Contents", []):
            data = client.get_object(Bucket=bucket, Key=item["Key"])["Body"].read()
            out[item["Key"]] = {"size": len(data), "sha256": hashlib.sha256(data).hexdigest()}
    return out


def s3_mkbucket(endpoint, bucket, access, secret):
    s3_client(endpoint, access, secret).create_bucket(Bucket=bucket)
    return {}


def s3_get(endpoint, bucket, key, access, secret):
    client = s3_client(endpoint, access, secret)
    try:
        data = client.get_object(Bucket=bucket, Key=key)["Body"].read()
    except client.exceptions.NoSuchKey:
        return {}
    return {"text": data.decode()}


if __name__ == "__main__":
    command, *args = sys.argv[1:]
    result = {"gcs": gcs, "s3": s3, "s3-mkbucket": s3_mkbucket, "s3-get": s3_get}[command](*args)
    json.dump(result, sys.stdout, sort_keys=True)
