#!/usr/bin/env python3
"""The plain-Python writer bin/bench measures the built-in writer against (benchmark only).

    plain_writer.py --input FILE [FILE...] --out DIR

What a Python programmer writes with nothing but the json and sqlite3 modules: NDJSON batches
(docs/formats.md) into DIR/delta.sqlite3 with the built-in writer's schema (the same CREATE
statements, embeddings as little-endian float32 BLOBs, metadata as JSON with sorted keys), in one
transaction, with the built-in writer's pragmas. bin/bench checks that both write the same rows.

It checks what the schema needs (fields present, one dimension per collection, no duplicate id);
it is not the built-in writer's strict validation (no duplicate-key, float32-range or exact-number
checks), so it does a little less work than the writer it is compared with.
Exit 0: DIR holds the delta. Exit 2: bad input ("error: FILE:LINE: REASON" on stderr).
"""
import argparse
import json
import os
import sqlite3
import struct
import sys

# Byte for byte the built-in writer's schema (Sources/DeltaSealWriter/DeltaWriter.swift).
SCHEMA = """\
CREATE TABLE collections (
    id INTEGER PRIMARY KEY,
    name TEXT NOT NULL UNIQUE,
    dimension INTEGER NOT NULL CHECK (dimension > 0)
);
CREATE TABLE records (
    collection_id INTEGER NOT NULL REFERENCES collections(id),
    id TEXT NOT NULL,
    embedding BLOB NOT NULL,
    document TEXT,
    metadata TEXT,
    PRIMARY KEY (collection_id, id)
) WITHOUT ROWID;"""


class BadInput(Exception):
    pass


def records(paths, db, collections):
    """Yields rows for the records table, inserting each new collection as it appears."""
    for path in paths:
        with open(path, "rb") as batch:
            for number, line in enumerate(batch, 1):
                if not line.strip():
                    continue
                try:
                    record = json.loads(line)
                    name, rid, embedding = record["collection"], record["id"], record["embedding"]
                except (ValueError, KeyError, TypeError) as error:
                    raise BadInput(f"{path}:{number}: {error}")
                known = collections.get(name)
                if known is None:
                    cursor = db.execute("INSERT INTO collections (name, dimension) VALUES (?, ?)", (name, len(embedding)))
                    known = collections[name] = (cursor.lastrowid, len(embedding))
                elif known[1] != len(embedding):
                    raise BadInput(f"{path}:{number}: embedding has dimension {len(embedding)}, collection has {known[1]}")
                metadata = record.get("metadata")
                if metadata is not None:
                    metadata = json.dumps(metadata, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
                yield (known[0], rid, struct.pack(f"<{len(embedding)}f", *embedding), record.get("document"), metadata)


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--input", nargs="+", required=True)
    parser.add_argument("--out", required=True)
    arguments = parser.parse_args()
    os.makedirs(arguments.out, exist_ok=True)
    path = os.path.join(arguments.out, "delta.sqlite3")
    if os.path.exists(path):
        print(f"error: {path}: output already exists", file=sys.stderr)
        return 2
    db = sqlite3.connect(path, isolation_level=None)
    try:
        db.executescript("PRAGMA journal_mode=DELETE; PRAGMA synchronous=OFF; PRAGMA foreign_keys=ON;")
        db.execute("BEGIN")
        for statement in SCHEMA.split(";\n"):
            db.execute(statement)
        collections = {}
        db.executemany("INSERT INTO records (collection_id, id, embedding, document, metadata) VALUES (?, ?, ?, ?, ?)",
                       records(arguments.input, db, collections))
        count = db.execute("SELECT count(*) FROM records").fetchone()[0]
        if count == 0:
            raise BadInput(f"{arguments.input[0]}: batch has no records")
        db.execute("COMMIT")
        db.close()
    except (BadInput, sqlite3.IntegrityError) as error:
        db.close()
        os.remove(path)
        print(f"error: {error}", file=sys.stderr)
        return 2
    print(f"wrote {count} records in {len(collections)} collections to {path}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
