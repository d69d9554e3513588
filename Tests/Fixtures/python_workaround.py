#!/usr/bin/env python3
"""The in-process Python workaround bin/bench measures DeltaSeal against (benchmark only).

    python_workaround.py --bucket BUCKET --prefix PREFIX --work DIR BATCH [BATCH...]

What an ingest host does without DeltaSeal, in one long-lived Python process (chromadb imported
once): for each NDJSON batch, write it with chromadb's PersistentClient into a fresh directory,
drop the client (close() where it exists, then gc.collect(): the usual workaround; no sleep, to
be generous), tar and `zstd -3 -T2` the directory, upload it with boto3 and a SHA-256 checksum
(`x-amz-checksum-sha256`, which the server checks), then download it, decompress, untar and
reopen chroma.sqlite3 (`PRAGMA integrity_check`, row count). The S3 endpoint and keys come from
AWS_ENDPOINT_URL, AWS_ACCESS_KEY_ID, AWS_SECRET_ACCESS_KEY and AWS_REGION.
Exit 0: every batch went through; else the first failure on stderr.
"""
import argparse
import base64
import gc
import hashlib
import json
import os
import shutil
import sqlite3
import subprocess
import sys

import boto3
import chromadb


def write(batch, directory):
    collections = {}
    with open(batch, "rb") as handle:
        for raw in handle:
            if raw.strip():
                record = json.loads(raw)
                collections.setdefault(record["collection"], []).append(record)
    client = chromadb.PersistentClient(path=directory)
    for name, rows in sorted(collections.items()):
        collection = client.get_or_create_collection(name, embedding_function=None)
        for start in range(0, len(rows), 1000):
            chunk = rows[start:start + 1000]
            collection.add(ids=[r["id"] for r in chunk], embeddings=[r["embedding"] for r in chunk],
                           documents=[r.get("document") or "" for r in chunk],
                           metadatas=[r.get("metadata") or None for r in chunk])
    if hasattr(client, "close"):
        client.close()
    del client, collection
    gc.collect()
    return sum(len(rows) for rows in collections.values())


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--bucket", required=True)
    parser.add_argument("--prefix", required=True)
    parser.add_argument("--work", required=True)
    parser.add_argument("batches", nargs="+")
    args = parser.parse_args()
    s3 = boto3.client("s3", endpoint_url=os.environ["AWS_ENDPOINT_URL"], region_name=os.environ.get("AWS_REGION", "us-east-1"))
    for number, batch in enumerate(args.batches):
        directory = os.path.join(args.work, f"delta-{number}")
        archive = directory + ".tar.zst"
        records = write(batch, directory)
        subprocess.run(f"tar -C '{directory}' -cf - . | zstd -q -3 -T2 -o '{archive}'", shell=True, check=True)
        with open(archive, "rb") as handle:
            body = handle.read()
        key = f"{args.prefix}/delta-{number}.tar.zst"
        s3.put_object(Bucket=args.bucket, Key=key, Body=body,
                      ChecksumSHA256=base64.b64encode(hashlib.sha256(body).digest()).decode())
        # Download and reopen: the check DeltaSeal's verifier makes.
        fetched = s3.get_object(Bucket=args.bucket, Key=key)["Body"].read()
        if hashlib.sha256(fetched).digest() != hashlib.sha256(body).digest():
            sys.exit(f"error: {key}: downloaded bytes differ")
        restored = directory + "-restored"
        os.makedirs(restored)
        subprocess.run(["tar", "-C", restored, "-xf", "-"], input=subprocess.run(
            ["zstd", "-q", "-d", "-c"], input=fetched, check=True, capture_output=True).stdout, check=True)
        db = sqlite3.connect(os.path.join(restored, "chroma.sqlite3"))
        if db.execute("PRAGMA integrity_check").fetchone()[0] != "ok":
            sys.exit(f"error: {key}: integrity_check failed")
        if db.execute("SELECT count(*) FROM embeddings").fetchone()[0] != records:
            sys.exit(f"error: {key}: row count differs from the batch")
        db.close()
        for path in (directory, restored):
            shutil.rmtree(path)
        os.remove(archive)
    return 0


if __name__ == "__main__":
    sys.exit(main())
